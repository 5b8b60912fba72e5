"""``chanbench serve`` at its edges: a port no TCP socket can have is one line and exit 2,
and the server's log outlives the server, at a path serve prints when it starts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import one_error_line

from bench.cli import main
from bench.deploy.processes import free_port

from .conftest import REPO_DIR, TreeWatcher


@pytest.mark.parametrize("port", ["-1", "0", "70000"])
def test_serve_on_a_port_out_of_range(capsys, nothing_started, port):
    assert main(["serve", "--port", port]) == 2
    err = one_error_line(capsys)
    assert f"--port {port}" in err and "Traceback" not in err


def printed_log(line: str) -> Path | None:
    """A log file that ``line`` names, if it names one that exists."""
    for word in line.split():
        path = Path(word.strip("()'\",;"))
        if path.suffix == ".log" and path.is_file():
            return path
    return None


@pytest.mark.timeout(90)
def test_serve_keeps_its_log_and_says_where():
    popen = subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "serve", "--port", str(free_port())],
        cwd=REPO_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    watcher = TreeWatcher(popen.pid)
    log: Path | None = None
    try:
        assert popen.stdout is not None
        deadline = time.monotonic() + 60
        while log is None and time.monotonic() < deadline:
            line = popen.stdout.readline()
            assert line, "serve exited before naming its log"
            log = printed_log(line)
        assert log is not None, "serve named no log file within 60 s"
        popen.send_signal(signal.SIGINT)
        popen.communicate(timeout=30)
    finally:
        leftovers = watcher.end(popen)
    try:
        assert popen.returncode == 0
        assert not leftovers, f"serve left processes running: {leftovers}"
        assert log.is_file() and log.stat().st_size > 0  # the readiness check's visit
    finally:
        if log.parent.parent == Path(tempfile.gettempdir()):
            shutil.rmtree(log.parent)
