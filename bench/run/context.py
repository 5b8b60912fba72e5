"""What a run carries from repeat to repeat (``RunContext``), and the server each repeat
gets: the point's kind in its environment, or the reference server, on a fresh port."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bench.deploy.environments import Built
from bench.deploy.listen import Listen
from bench.deploy.processes import free_port, last_line
from bench.deploy.servers import ReferenceServer, ServerProcess, server_for
from bench.deploy.services import Services
from bench.deploy.site import ServerSettings
from bench.errors import PointFailed
from bench.loadgen.pool import Placement, exit_description
from bench.results import store
from bench.results.model import Run
from bench.run.progress import RunDisplay
from bench.run.routes import served_site
from bench.run.target import Target
from bench.scenario import Point, Scenario


@dataclass
class RunContext:
    """What a run needs besides its scenario: where to write, what to drive, what to say."""

    scenario: Scenario
    path: Path
    log_dir: Path
    out: TextIO
    target: Target | None = None
    server_pid: int | None = None
    redis_url: str | None = None
    # The user's PostgreSQL for the orm workloads (DATABASE_URL); else a private one.
    database_url: str | None = None
    # The command line as the user typed it, for the report's "Reproduce".
    command: str | None = None
    services: Services = field(default_factory=Services)
    # The server's interpreter for each environment built, and why the others failed.
    envs: dict[str, Built] = field(default_factory=dict)
    env_errors: dict[str, str] = field(default_factory=dict)
    run: Run = field(default_factory=Run)
    # The whole run's bars while the points run (on a terminal).
    display: RunDisplay | None = None
    cluster: Placement | None = None  # --cluster: a Dask cluster for the client workers
    listen: Listen = field(default_factory=Listen)  # --bind, --advertise: where servers listen


def server_died(server: ServerProcess) -> PointFailed:
    code = server.proc.returncode if server.proc is not None else None
    return PointFailed(
        f"{server.name} (pid {server.pid}) {exit_description(code)} during "
        f"the point; its log ends: {last_line(server.log_path)}"
    )


def new_server(
    ctx: RunContext, point: Point, label: str, repeat: int, reference: bool, drops: Path | None
) -> ServerProcess:
    """A fresh server for one repeat (not started): the point's kind, or the reference."""
    bind, host = ctx.listen.bind, ctx.listen.host
    port = free_port(bind)
    log_path = ctx.log_dir / f"{store.file_stem(label)}-r{repeat}.log"
    if reference:
        return ReferenceServer(bind, port, log_path, advertise=host)
    layer = ctx.scenario.layers.get(point.layer)
    built, own = ctx.envs.get(point.env), ctx.scenario.site
    settings = ServerSettings(
        point,
        redis_url=ctx.services.redis_url(point),
        database_url=ctx.services.database_url(point),
        layer_backend=layer.backend if layer else None,
        layer_config=layer.config_json if layer else None,
        site_dir=served_site(ctx.scenario, point, built.site_dir if built else None),
        own=own,
        site_layer=own is not None and "layer" in ctx.scenario.matrix,
        drops_dir=str(drops) if drops else None,
    )
    python = built.python if built else sys.executable
    return server_for(point.server, settings, bind, port, log_path, python, host)
