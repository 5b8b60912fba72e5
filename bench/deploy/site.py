"""The chat site in ``consumers/``, as the harness sees it: what it serves (consumer
flavours, workloads, faults, channel layers), the settings a server of it is started
with (environment variables the site's settings read), its URLs, and its migration.
Every server kind in ``servers`` serves this site.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.deploy.own_site import OwnSite
from bench.deploy.processes import last_line
from bench.deploy.workloads import SIZE_SETTINGS
from bench.errors import ServerError

if TYPE_CHECKING:  # the scenario's model reads this module's names: no import at run time
    from bench.scenario.model import Point

CONSUMERS_DIR = Path(__file__).resolve().parents[2] / "consumers"
# What runs: the tutorial's two consumer flavours.
CONSUMERS = ("sync", "async")
# What it does: the workloads (bench.deploy.workloads, one registry entry each).
# Faults injected into the async consumer (consumers/chat/faults.py), to test the harness.
FAULTS = ("none", "stall", "slow", "leak", "task_leak", "fd_leak", "probe")
LAYERS = ("memory", "redis", "redis-pubsub")
LOOPS = ("asyncio", "uvloop")
# Defaults written once for the scenario's Point, the server's settings and the
# command's options: the layer that needs no service, Channels' own capacity per
# channel, asyncio's own loop.
DEFAULT_LAYER = "memory"
DEFAULT_CAPACITY = 100
DEFAULT_LOOP = "asyncio"


# The environment variables the site reads from the point, each from one of its keys
# (or properties). The names are an interface: a site served from another commit's tree
# (--env NAME=PATH) reads them, so an old site understands a new harness; they never
# change. A workload's size settings come as CHANBENCH_<KEY> (bench.deploy.workloads).
POINT_ENVIRON: dict[str, str] = {
    "CHANBENCH_LAYER": "layer",
    "CHANBENCH_LAYER_CAPACITY": "capacity",
    "CHANBENCH_FAULT_CONSUMERS": "fault_consumers",
    "CHANBENCH_PROBE": "churn",
    **{f"CHANBENCH_{key.upper()}": key for key in SIZE_SETTINGS},
}


def environ_value(value: Any) -> str:
    """A setting as the site parses it: ``1``/``0``, ``10`` for 10.0, else ``str``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class ServerSettings:
    """What the server process is started with: the point measured, and what only the
    run knows (its services' URLs, a custom layer's path, the environment's site)."""

    point: Point
    redis_url: str | None = None
    database_url: str | None = None
    # A layer by dotted path (the scenario's [layers.NAME]), its CONFIG as JSON.
    layer_backend: str | None = None
    layer_config: str | None = None
    # The site served: chanbench's consumers/, a source environment's own, or the user's
    # own project (--site), carried whole for its settings module and ASGI application.
    site_dir: str | None = None
    own: OwnSite | None = None
    # The user's site served with chanbench's layer (the scenario's layer key) instead of
    # its own CHANNEL_LAYERS (``site_layer_settings``).
    site_layer: bool = False
    expiry_s: int = 60
    group_expiry_s: int = 86400
    # Where each server process writes the channel layer's drops (mysite/drops.py).
    drops_dir: str | None = None

    @property
    def site(self) -> Path:
        return Path(self.site_dir) if self.site_dir else CONSUMERS_DIR

    @property
    def application(self) -> str:
        """The ASGI application the server runs, as ``module:attribute``."""
        return self.own.asgi if self.own else APPLICATION

    def environ(self) -> dict[str, str]:
        """The environment for the server process."""
        env = dict(os.environ)
        env.update(
            {name: environ_value(getattr(self.point, key)) for name, key in POINT_ENVIRON.items()}
        )
        env.update(
            DJANGO_SETTINGS_MODULE=self.own.settings if self.own else "mysite.settings",
            PYTHONPATH=with_path_first(self.site, env.get("PYTHONPATH")),
            CHANBENCH_LAYER_EXPIRY=str(self.expiry_s),
            CHANBENCH_GROUP_EXPIRY=str(self.group_expiry_s),
            PYTHONUNBUFFERED="1",
        )
        if self.point.allocator == "malloc":
            env.update(PYTHONMALLOC="malloc", MALLOC_ARENA_MAX="2")
        if self.database_url:
            env["CHANBENCH_DATABASE_URL"] = self.database_url
        if self.layer_backend:
            env["CHANBENCH_LAYER_BACKEND"] = self.layer_backend
            env["CHANBENCH_LAYER_CONFIG"] = self.layer_config or "{}"
        if self.redis_url:
            env["CHANBENCH_REDIS_URL"] = self.redis_url
        if self.drops_dir:
            env["CHANBENCH_DROPS_DIR"] = self.drops_dir
        if self.site_layer and self.own:
            env.update(
                CHANBENCH_USER_SETTINGS=self.own.settings,
                CHANBENCH_SITE_LAYER=json.dumps(chat_site_layer(env), default=str),
                DJANGO_SETTINGS_MODULE="bench.deploy.site_layer_settings",
                PYTHONPATH=os.pathsep.join([str(self.site), str(CONSUMERS_DIR.parent)])
                + os.pathsep
                + (env.get("PYTHONPATH") or ""),
            )
        return env


def chat_site_layer(env: dict[str, str]) -> dict[str, Any]:
    """The ``CHANNEL_LAYERS["default"]`` entry chanbench's own site would build from
    ``env`` (``consumers/mysite/layers.py``, the one place that knows it), for a user's
    site served with chanbench's layer key."""
    if str(CONSUMERS_DIR) not in sys.path:
        sys.path.append(str(CONSUMERS_DIR))  # the harness imports no site of the user's
    from mysite.layers import channel_layer_settings

    entry: dict[str, Any] = channel_layer_settings(env)
    return entry


def with_path_first(path: Path, pythonpath: str | None) -> str:
    """``PYTHONPATH`` with ``path`` first, so a child process imports our code."""
    return os.pathsep.join(filter(None, [str(path), pythonpath]))


def netloc(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def ws_url(host: str, port: int, route: str, room: str, workload: str = "chat") -> str:
    """The websocket URL of ``room`` on ``route`` (a consumer flavour or a fault)."""
    return f"ws://{netloc(host, port)}/ws/{route}/{workload}/{room}/"


def origin(host: str, port: int) -> str:
    """An Origin header that the site's ``AllowedHostsOriginValidator`` accepts."""
    return f"http://{netloc(host, port)}"


# The chat site's application, as the tutorial's ``daphne mysite.asgi:application``.
APPLICATION = "mysite.asgi:application"
# Creating one table on an empty database takes a second or two with Django's start-up.
MIGRATE_TIMEOUT_S = 120.0


def migrate(settings: ServerSettings, log_path: Path, python: str = sys.executable) -> None:
    """Create the site's tables in ``settings.database_url`` (``manage.py migrate``), with
    the interpreter the servers will run; ``ServerError`` with the log's last line."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            done = subprocess.run(
                [python, "manage.py", "migrate", "--noinput", "-v", "1"],
                cwd=settings.site,
                env=settings.environ(),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=MIGRATE_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ServerError(
                f"manage.py migrate did not finish within {MIGRATE_TIMEOUT_S:g} s (log: {log_path})"
            ) from None
    if done.returncode:
        raise ServerError(
            f"manage.py migrate failed with code {done.returncode}: {last_line(log_path)} "
            f"(log: {log_path})"
        )
