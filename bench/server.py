"""The server under test: a real Daphne process serving the chat site in ``consumers/``.

Readiness is a real websocket handshake on the consumer's route, not an open port or a
sleep; everything Daphne prints goes to a log file kept with the results.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bench.errors import ServerError
from bench.processes import last_line, start_process, stop_process

CONSUMERS_DIR = Path(__file__).resolve().parent.parent / "consumers"
CONSUMERS = ("sync", "async")
# Consumers with injected faults (consumers/chat/faults.py), for testing the harness.
FAULT_CONSUMERS = ("stall", "slow")
LAYERS = ("memory", "redis", "redis-pubsub")
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
    asgi_threads: int | None = None
    redis_url: str | None = None
    fault_consumers: bool = False

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
            PYTHONUNBUFFERED="1",
        )
        if self.redis_url:
            env["CHANBENCH_REDIS_URL"] = self.redis_url
        if self.asgi_threads:
            env["ASGI_THREADS"] = str(self.asgi_threads)
        else:
            env.pop("ASGI_THREADS", None)
        return env


def with_path_first(path: Path, pythonpath: str | None) -> str:
    """``PYTHONPATH`` with ``path`` first, so a child process imports our code."""
    return os.pathsep.join(filter(None, [str(path), pythonpath]))


def netloc(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def ws_url(host: str, port: int, consumer: str, room: str) -> str:
    """The websocket URL of ``consumer`` for ``room``."""
    return f"ws://{netloc(host, port)}/ws/{consumer}/chat/{room}/"


def origin(host: str, port: int) -> str:
    """An Origin header that the site's ``AllowedHostsOriginValidator`` accepts."""
    return f"http://{netloc(host, port)}"


class ServerProcess:
    """A server subprocess; a context manager that starts it and stops it by PID."""

    name = "server"

    def __init__(self, host: str, port: int, log_path: Path) -> None:
        self.host = host
        self.port = port
        self.log_path = log_path
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

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = start_process(self.argv(), log=log, env=self.environ(), cwd=self.cwd)

    def wait_ready(self, consumer: str = "async", timeout_s: float = READY_TIMEOUT_S) -> float:
        """Wait until a websocket handshake on ``consumer`` succeeds; return seconds taken."""
        from websockets.exceptions import InvalidHandshake
        from websockets.sync.client import connect
        from websockets.typing import Origin

        url = ws_url(self.host, self.port, consumer, READY_ROOM)
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


class DaphneServer(ServerProcess):
    """Daphne serving the chat site in ``consumers/`` with the given settings."""

    name = "daphne"
    cwd = CONSUMERS_DIR

    def __init__(self, settings: ServerSettings, host: str, port: int, log_path: Path) -> None:
        super().__init__(host, port, log_path)
        self.settings = settings

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            self.host,
            "-p",
            str(self.port),
            "mysite.asgi:application",
        ]

    def environ(self) -> dict[str, str]:
        return self.settings.environ()


class ReferenceServer(ServerProcess):
    """The minimal broadcast server of ``bench.reference_server`` (no Django, no Channels)."""

    name = "reference server"

    def argv(self) -> list[str]:
        return [
            sys.executable,
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
