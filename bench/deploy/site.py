"""The chat site in ``consumers/``, as the harness sees it: what it serves (consumer
flavours, workloads, faults, channel layers), the settings a server of it is started
with (environment variables the site's settings read), its URLs, and its migration.
Every server kind in ``servers`` serves this site.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.deploy.processes import last_line
from bench.errors import ServerError

CONSUMERS_DIR = Path(__file__).resolve().parents[2] / "consumers"
# What runs: the tutorial's two consumer flavours.
CONSUMERS = ("sync", "async")
# What it does (routes /ws/<flavour>/<workload>/<room>/, consumers/chat/routing.py): the
# tutorial's chat; the same after saving each message (orm: the ORM, through
# database_sync_to_async in the async consumer; orm-native: psycopg's async pool;
# orm-acreate: Django's acreate), after a blocking call (blocking: through sync_to_async;
# blocking-native: asyncio.sleep), or after burning CPU (cpu).
WORKLOADS = ("chat", "orm", "orm-native", "orm-acreate", "blocking", "blocking-native", "cpu")
# The workloads that write to a database, and the databases they can write to.
DATABASE_WORKLOADS = ("orm", "orm-native", "orm-acreate")
DATABASES = ("postgres", "sqlite")
# Faults injected into the async consumer (consumers/chat/faults.py), to test the harness.
FAULTS = ("none", "stall", "slow")
LAYERS = ("memory", "redis", "redis-pubsub")
LOOPS = ("asyncio", "uvloop")
# Defaults written once for the scenario's Point, the server's settings and the
# command's options: the layer that needs no service, Channels' own capacity per
# channel, asyncio's own loop.
DEFAULT_LAYER = "memory"
DEFAULT_CAPACITY = 100
DEFAULT_LOOP = "asyncio"


@dataclass(frozen=True)
class ServerSettings:
    """What the server process is started with; recorded with every result."""

    layer: str = DEFAULT_LAYER
    capacity: int = DEFAULT_CAPACITY
    expiry_s: int = 60
    group_expiry_s: int = 86400
    redis_url: str | None = None
    fault_consumers: bool = False
    # The workloads' settings (consumers/chat/work.py, consumers/mysite/database.py).
    work_ms: float = 10.0
    work_us: float = 1000.0
    database_url: str | None = None
    conn_max_age: int = 0
    db_pool_size: int = 10
    # How the server runs: its event loop and its worker processes (server.py's kinds).
    loop: str = DEFAULT_LOOP
    workers: int = 1
    # Whether the server may accept permessage-deflate (only when the scenario offers it).
    compression: bool = False
    # A layer by dotted path (the scenario's [layers.NAME]), its CONFIG as JSON.
    layer_backend: str | None = None
    layer_config: str | None = None
    # The site served: chanbench's consumers/, or a source environment's own.
    site_dir: str | None = None

    @property
    def site(self) -> Path:
        return Path(self.site_dir) if self.site_dir else CONSUMERS_DIR

    def environ(self) -> dict[str, str]:
        """The environment for the server process."""
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="mysite.settings",
            PYTHONPATH=with_path_first(self.site, env.get("PYTHONPATH")),
            CHANBENCH_LAYER=self.layer,
            CHANBENCH_LAYER_CAPACITY=str(self.capacity),
            CHANBENCH_LAYER_EXPIRY=str(self.expiry_s),
            CHANBENCH_GROUP_EXPIRY=str(self.group_expiry_s),
            CHANBENCH_FAULT_CONSUMERS="1" if self.fault_consumers else "0",
            CHANBENCH_WORK_MS=f"{self.work_ms:g}",
            CHANBENCH_WORK_US=f"{self.work_us:g}",
            CHANBENCH_CONN_MAX_AGE=str(self.conn_max_age),
            CHANBENCH_DB_POOL_SIZE=str(self.db_pool_size),
            PYTHONUNBUFFERED="1",
        )
        if self.database_url:
            env["CHANBENCH_DATABASE_URL"] = self.database_url
        if self.layer_backend:
            env["CHANBENCH_LAYER_BACKEND"] = self.layer_backend
            env["CHANBENCH_LAYER_CONFIG"] = self.layer_config or "{}"
        if self.redis_url:
            env["CHANBENCH_REDIS_URL"] = self.redis_url
        return env


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
