"""The servers under test, from a registry: each kind is a class that knows its command
line, its process tree, its limits and the versions of what it runs.

Daphne serves the chat site in ``consumers/`` today; another server is one more class in
``SERVERS``, and the runner, the monitor and the report never name a kind. Readiness is
a real websocket handshake on the route under test, not an open port or a sleep;
everything a server prints goes to a log file kept with the results. Versions are read
from the server's own interpreter, which will differ from the harness's once a scenario
names environments.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from bench.errors import ServerError
from bench.processes import last_line, process_tree, start_process, stop_process

CONSUMERS_DIR = Path(__file__).resolve().parent.parent / "consumers"
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
# What a server's interpreter is asked about: the stack under test.
SOFTWARE = ("django", "channels", "channels-redis", "daphne", "asgiref", "twisted", "redis")
# Django and Channels import in about a second; a loaded 2-core machine may need more.
READY_TIMEOUT_S = 30.0
READY_ROOM = "chanbench_ready"


@dataclass(frozen=True)
class ServerSettings:
    """What the server process is started with; recorded with every result."""

    layer: str = "memory"
    capacity: int = 100
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

    def environ(self) -> dict[str, str]:
        """The environment for the server process."""
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="mysite.settings",
            PYTHONPATH=with_path_first(CONSUMERS_DIR, env.get("PYTHONPATH")),
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


class ServerProcess:
    """A server subprocess; a context manager that starts it and stops it by PID."""

    name = "server"
    # The largest websocket message the server accepts (None: no limit we know of).
    max_message_bytes: ClassVar[int | None] = None

    def __init__(self, host: str, port: int, log_path: Path, python: str = sys.executable) -> None:
        self.host = host
        self.port = port
        self.log_path = log_path
        self.python = python
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def environ(self) -> dict[str, str] | None:
        return None

    cwd: Path | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "server not started"
        return self.proc.pid

    def pids(self) -> list[int]:
        """The server's whole process tree (a supervisor and its workers), main first."""
        return process_tree(self.pid)

    def software(self) -> dict[str, Any]:
        """Python and package versions, as the server's own interpreter sees them."""
        return software(self.python, (self.environ() or {}).get("PYTHONPATH"))

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = start_process(self.argv(), log=log, env=self.environ(), cwd=self.cwd)

    def wait_ready(self, route: str = "async", timeout_s: float = READY_TIMEOUT_S) -> float:
        """Wait until a websocket handshake on ``route`` succeeds; return seconds taken."""
        from websockets.exceptions import InvalidHandshake
        from websockets.sync.client import connect
        from websockets.typing import Origin

        url = ws_url(self.host, self.port, route, READY_ROOM)
        started = time.monotonic()
        last_error = "no attempt"
        while time.monotonic() - started < timeout_s:
            if not self.alive():
                code = None if self.proc is None else self.proc.returncode
                raise ServerError(
                    f"{self.name} exited with code {code} before it was ready: "
                    f"{last_line(self.log_path)} (log: {self.log_path})"
                )
            try:
                with connect(
                    url,
                    origin=Origin(origin(self.host, self.port)),
                    open_timeout=2,
                    close_timeout=1,
                    compression=None,
                ):
                    return time.monotonic() - started
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                last_error = str(exc) or type(exc).__name__
                time.sleep(0.05)
        raise ServerError(
            f"{self.name} did not accept a websocket on {url} within {timeout_s:g} s "
            f"({last_error}); its log ends: {last_line(self.log_path)} (log: {self.log_path})"
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        return None if self.proc is None else stop_process(self.proc)

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class SiteServer(ServerProcess):
    """A server of the chat site in ``consumers/`` with the given settings; subclasses
    are the server kinds, registered in ``SERVERS``."""

    cwd = CONSUMERS_DIR

    def __init__(
        self,
        settings: ServerSettings,
        host: str,
        port: int,
        log_path: Path,
        python: str = sys.executable,
    ) -> None:
        super().__init__(host, port, log_path, python)
        self.settings = settings

    def environ(self) -> dict[str, str]:
        return self.settings.environ()


class DaphneServer(SiteServer):
    """Daphne, the server the tutorial uses (``daphne mysite.asgi:application``)."""

    name = "daphne"
    # Daphne closes a websocket whose message is over 1 MiB (--websocket-max-message-size)
    # with code 1009.
    max_message_bytes = 1024 * 1024

    def argv(self) -> list[str]:
        return [
            self.python,
            "-m",
            "daphne",
            "-b",
            self.host,
            "-p",
            str(self.port),
            "mysite.asgi:application",
        ]


SERVERS: dict[str, type[SiteServer]] = {cls.name: cls for cls in (DaphneServer,)}

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
                cwd=CONSUMERS_DIR,
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


def server_for(
    kind: str, settings: ServerSettings, host: str, port: int, log_path: Path
) -> SiteServer:
    """A server of ``kind`` (a key of ``SERVERS``), not yet started."""
    return SERVERS[kind](settings, host, port, log_path)


# Run by a server's interpreter: its Python and the versions of the stack it imports.
_SOFTWARE_PROBE = """
import json, platform, sys
from importlib import metadata
out = {"python": platform.python_version(), "executable": sys.executable, "packages": {}}
for name in sys.argv[1:]:
    try:
        out["packages"][name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        out["packages"][name] = None
print(json.dumps(out))
"""


def software(python: str, pythonpath: str | None = None) -> dict[str, Any]:
    """What ``python`` runs: its version and the versions of ``SOFTWARE`` (cached)."""
    return dict(_software(python, pythonpath))


@functools.cache
def _software(python: str, pythonpath: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    try:
        out = subprocess.run(
            [python, "-c", _SOFTWARE_PROBE, *SOFTWARE],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
            env=env,
        )
        data: dict[str, Any] = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return {"error": f"{python}: {exc}"}
    return data


class ReferenceServer(ServerProcess):
    """The minimal broadcast server of ``bench.reference_server`` (no Django, no Channels)."""

    name = "reference server"

    def argv(self) -> list[str]:
        return [
            self.python,
            "-m",
            "bench.reference_server",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = with_path_first(CONSUMERS_DIR.parent, env.get("PYTHONPATH"))
        return env
