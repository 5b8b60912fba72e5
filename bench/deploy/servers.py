"""The servers under test, from a registry: each kind is a class that knows its command
line, its process tree, its limits and the packages it needs (``bench.deploy.software``:
their versions are recorded, environments install them, the pre-flight checks look for
them).

Another server is one more class in ``SERVERS``, and the runner, the monitor and the
report never name a kind. Readiness is a real websocket handshake on the route under
test, not an open port or a sleep; everything a server prints goes to a log file kept
with the results.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar

from bench.deploy.processes import last_line, process_tree, start_process, stop_process
from bench.deploy.site import (
    CONSUMERS_DIR,
    ServerSettings,
    netloc,
    origin,
    with_path_first,
    ws_url,
)
from bench.deploy.software import STACK, Package, software
from bench.errors import ServerError
from bench.results.environment import Site, Software, git_info

if TYPE_CHECKING:
    from bench.scenario import Point

# Django and Channels import in about a second; a loaded 2-core machine may need more.
READY_TIMEOUT_S = 30.0
READY_ROOM = "chanbench_ready"


class ServerProcess:
    """A server subprocess; a context manager that starts it and stops it by PID."""

    name = "server"
    # The largest websocket message the server accepts (None: no limit we know of).
    max_message_bytes: ClassVar[int | None] = None
    # What it needs installed besides the harness's own; their versions are recorded.
    packages: ClassVar[tuple[Package, ...]] = ()

    def __init__(
        self,
        host: str,
        port: int,
        log_path: Path,
        python: str = sys.executable,
        advertise: str | None = None,
    ) -> None:
        self.host = host  # where it listens (bench.deploy.listen: an IP address)
        # Where it is reached: the bind address, unless that is a wildcard (0.0.0.0).
        self.advertise = advertise or host
        self.port = port
        self.log_path = log_path
        self.python = python
        self.proc: subprocess.Popen[bytes] | None = None
        # Arguments put between the interpreter and the server's own (``-m memray run
        # ...``): the command run under a tool (bench.run.profiling's memory profile).
        self.wrap_args: tuple[str, ...] = ()

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

    def recorded(self) -> tuple[str, ...]:
        """The distributions whose versions a point records."""
        return tuple(p.name for p in self.packages)

    def software(self) -> Software:
        """Python and package versions, as the server's own interpreter sees them."""
        return software(self.python, self.recorded(), (self.environ() or {}).get("PYTHONPATH"))

    def wraps_each_worker(self) -> bool:
        """Whether ``wrap_args`` go around each worker's command, not the whole (Daphne's
        workers: new programs its supervisor starts, which a tool around it misses)."""
        return False

    @classmethod
    def spawned_workers(cls, point: Point) -> str | None:
        """Why a tool run around the command (memray) misses the processes that serve,
        or None: they are the command's process, its forks, or each wrapped."""
        return None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        python, *rest = self.argv()
        wrap = () if self.wraps_each_worker() else self.wrap_args
        argv = [python, *wrap, *rest]
        with self.log_path.open("ab") as log:
            self.proc = start_process(argv, log=log, env=self.environ(), cwd=self.cwd)

    def wait_ready(
        self,
        route: str = "async",
        timeout_s: float = READY_TIMEOUT_S,
        path: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> float:
        """Wait until a websocket handshake on ``route`` (or the route template ``path``,
        with ``headers``) succeeds; return seconds taken."""
        from websockets.exceptions import InvalidHandshake
        from websockets.sync.client import connect
        from websockets.typing import Origin

        url = (
            f"ws://{netloc(self.advertise, self.port)}{path.format(room=READY_ROOM, client=0)}"
            if path
            else ws_url(self.advertise, self.port, route, READY_ROOM)
        )
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
                    origin=Origin(origin(self.advertise, self.port)),
                    additional_headers=headers,
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
    """A server of the chat site in ``consumers/`` (or ``settings.site``) with the given
    settings; subclasses are the server kinds, registered in ``SERVERS``. Each declares
    its ``packages`` with the minimum pyproject.toml asks (Daphne in chanbench's own
    dependencies, the others in its ``servers`` extra)."""

    def __init__(
        self,
        settings: ServerSettings,
        host: str,
        port: int,
        log_path: Path,
        python: str = sys.executable,
        advertise: str | None = None,
    ) -> None:
        super().__init__(host, port, log_path, python, advertise)
        self.settings = settings
        self.cwd = settings.site

    def environ(self) -> dict[str, str]:
        env = self.settings.environ()
        # The site accepts Origin and Host headers naming loopback; and the host its
        # clients reach it at (--advertise, --bind), IPv6 bare and in brackets.
        host = self.advertise
        env["CHANBENCH_ALLOWED_HOSTS"] = f"{host} [{host}]" if ":" in host else host
        return env

    def recorded(self) -> tuple[str, ...]:
        return (*STACK, *super().recorded())

    def software(self) -> Software:
        found = super().software()
        if self.settings.site_dir:  # a source environment's or the user's site, its commit
            git = git_info(self.settings.site)
            found.site = Site(self.settings.site_dir, git.commit, git.dirty)
        return found


# Daphne has no event-loop option: uvloop's policy goes in before Daphne's server module
# creates the loop it hands to Twisted's asyncio reactor.
_DAPHNE_ON_UVLOOP = (
    "import asyncio, sys, uvloop; asyncio.set_event_loop_policy(uvloop.EventLoopPolicy()); "
    "sys.argv[0] = 'daphne'; from daphne.cli import CommandLineInterface; "
    "CommandLineInterface.entrypoint()"
)


class DaphneServer(SiteServer):
    """Daphne, the server the tutorial uses (``daphne mysite.asgi:application``). Several
    workers are Daphne processes on one listening socket that ``bench.deploy.supervise`` binds
    and passes to each (``--fd``), as Daphne's docs describe for process managers."""

    name = "daphne"
    packages = (
        Package("daphne", "daphne>=4.1", "daphne"),
        Package("twisted", "twisted", "twisted"),
    )
    # Daphne closes a websocket whose message is over 1 MiB (--websocket-max-message-size)
    # with code 1009.
    max_message_bytes = 1024 * 1024

    def wraps_each_worker(self) -> bool:
        return self.settings.point.workers > 1

    def argv(self) -> list[str]:
        # Several workers: each worker's command under wrap_args ({worker}: its index).
        wrap = self.wrap_args if self.wraps_each_worker() else ()
        start = [self.python, *wrap, "-m", "daphne"]
        if self.settings.point.loop == "uvloop":
            start = [self.python, *wrap, "-c", _DAPHNE_ON_UVLOOP]
        if self.settings.point.workers == 1:
            return [*start, "-b", self.host, "-p", str(self.port), self.settings.application]
        return [
            self.python,
            "-m",
            "bench.deploy.supervise",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            str(self.settings.point.workers),
            "--",
            *start,
            "--fd",
            "{fd}",
            self.settings.application,
        ]

    def environ(self) -> dict[str, str]:
        env = super().environ()
        if self.settings.point.workers > 1:  # bench.deploy.supervise, from this checkout
            env["PYTHONPATH"] = with_path_first(CONSUMERS_DIR.parent, env.get("PYTHONPATH"))
        return env


class UvicornServer(SiteServer):
    """Uvicorn with its ``websockets`` implementation; permessage-deflate only when the
    scenario asks for compression (Uvicorn turns it on by default)."""

    name = "uvicorn"
    # Its websocket protocol is the ``websockets`` package's (``--ws websockets``).
    packages = (
        Package("uvicorn", "uvicorn>=0.30", "uvicorn"),
        Package("websockets", "websockets>=13", "websockets"),
    )
    max_message_bytes = 1024 * 1024  # pinned to Daphne's, --ws-max-size

    @classmethod
    def spawned_workers(cls, point: Point) -> str | None:
        if point.workers > 1:
            return "its workers are new interpreters (multiprocessing's spawn)"
        return None

    def argv(self) -> list[str]:
        return [
            self.python,
            "-m",
            "uvicorn",
            self.settings.application,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--loop",
            self.settings.point.loop,
            "--ws",
            "websockets",
            "--ws-max-size",
            str(self.max_message_bytes),
            "--ws-per-message-deflate",
            "true" if self.settings.point.compression else "false",
            "--no-access-log",
            "--workers",
            str(self.settings.point.workers),
        ]


class HypercornServer(SiteServer):
    """Hypercorn, its worker class being the loop (``-k asyncio`` or ``-k uvloop``)."""

    name = "hypercorn"
    packages = (Package("hypercorn", "hypercorn>=0.17", "hypercorn"),)
    max_message_bytes = 16 * 1024 * 1024  # Hypercorn's default; no command-line option

    @classmethod
    def spawned_workers(cls, point: Point) -> str | None:
        return "it serves from worker processes it spawns (multiprocessing's spawn), even one"

    def argv(self) -> list[str]:
        return [
            self.python,
            "-m",
            "hypercorn",
            self.settings.application,
            "-b",
            f"{netloc(self.host, self.port)}",
            "-k",
            self.settings.point.loop,
            "-w",
            str(self.settings.point.workers),
        ]


class GranianServer(SiteServer):
    """Granian (Rust) on its ASGI interface."""

    name = "granian"
    packages = (Package("granian", "granian>=2.0", "granian"),)
    max_message_bytes = None  # no limit that we know of

    def argv(self) -> list[str]:
        return [
            self.python,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--loop",
            self.settings.point.loop,
            "--workers",
            str(self.settings.point.workers),
            "--no-access-log",
            self.settings.application,
        ]


class GunicornServer(SiteServer):
    """Gunicorn's own ASGI worker (``-k asgi``), not Uvicorn's worker class."""

    name = "gunicorn"
    packages = (Package("gunicorn", "gunicorn>=24", "gunicorn"),)
    max_message_bytes = None

    def argv(self) -> list[str]:
        return [
            self.python,
            "-m",
            "gunicorn",
            self.settings.application,
            "-k",
            "asgi",
            "--asgi-loop",
            self.settings.point.loop,
            "-w",
            str(self.settings.point.workers),
            "-b",
            netloc(self.host, self.port),
        ]


SERVERS: dict[str, type[SiteServer]] = {
    cls.name: cls
    for cls in (DaphneServer, UvicornServer, HypercornServer, GranianServer, GunicornServer)
}
# The tutorial's server: a point's and ``chanbench serve``'s default.
DEFAULT_SERVER = DaphneServer.name


def server_for(
    kind: str,
    settings: ServerSettings,
    host: str,
    port: int,
    log_path: Path,
    python: str = sys.executable,
    advertise: str | None = None,
) -> SiteServer:
    """A server of ``kind`` (a key of ``SERVERS``) run by ``python``, listening on
    ``host`` and reached at ``advertise`` (default ``host``), not yet started."""
    return SERVERS[kind](settings, host, port, log_path, python, advertise)


class ReferenceServer(ServerProcess):
    """The minimal broadcast server of ``bench.deploy.reference_server`` (no Django, no
    Channels)."""

    name = "reference server"

    def argv(self) -> list[str]:
        return [
            self.python,
            "-m",
            "bench.deploy.reference_server",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = with_path_first(CONSUMERS_DIR.parent, env.get("PYTHONPATH"))
        return env
