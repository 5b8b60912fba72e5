"""Case 6: nothing hangs. A server that accepts connections and never answers ends the
point in bounded time with the reason; every wait of the runner has a deadline."""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
from types import SimpleNamespace

import pytest
from helpers import one_error_line

from bench.cli import main
from bench.deploy.processes import free_port
from bench.deploy.servers import ServerProcess
from bench.errors import PointFailed, ServerError
from bench.loadgen.link import pack
from bench.loadgen.pool import WorkerPool
from bench.run.target import HANDSHAKE_TIMEOUT_S

from .conftest import scenario_text, write_scenario


@pytest.mark.timeout(60)
def test_silent_target_is_refused_before_any_load(tmp_path, capsys, silent_server):
    """The pre-flight handshake has a deadline: a target that never answers is one line
    naming the URL, exit 2, no result, in a few seconds."""
    path = write_scenario(tmp_path, scenario_text(consumer="async"))
    results = tmp_path / "results"
    started = time.monotonic()
    code = main(
        [
            "run",
            str(path),
            "--no-calibrate",
            "--results-dir",
            str(results),
            "--target",
            f"ws://127.0.0.1:{silent_server}",
        ]
    )
    elapsed_s = time.monotonic() - started
    assert code == 2
    assert elapsed_s < HANDSHAKE_TIMEOUT_S + 10
    err = one_error_line(capsys)
    assert f"ws://127.0.0.1:{silent_server}/" in err
    assert "Traceback" not in err
    assert not results.exists()


class SilentServer(ServerProcess):
    """A "server" process that listens on its port and never answers a handshake."""

    name = "silent server"

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-c",
            "import socket, time\n"
            f"s = socket.create_server(({self.host!r}, {self.port}))\n"
            "held = [s.accept()[0] for _ in range(1000)]\n"
            "time.sleep(3600)\n",
        ]


@pytest.mark.timeout(60)
def test_server_readiness_wait_has_a_deadline(tmp_path):
    port = free_port()
    started = time.monotonic()
    with (
        SilentServer("127.0.0.1", port, tmp_path / "silent.log") as server,
        pytest.raises(ServerError) as info,
    ):
        server.wait_ready(timeout_s=3)
    assert time.monotonic() - started < 15
    message = str(info.value)
    assert message.startswith("silent server did not accept a websocket on ws://127.0.0.1:")
    assert "within 3 s" in message and "\n" not in message
    assert server.proc is not None and server.proc.returncode is not None  # stopped


def stub_workers(n: int) -> tuple[WorkerPool, list]:
    """A ``WorkerPool`` over plain pipes, the test playing the client processes."""
    workers = WorkerPool.__new__(WorkerPool)
    ctx = multiprocessing.get_context("spawn")
    pipes = [ctx.Pipe() for _ in range(n)]
    workers.conns = [parent for parent, _ in pipes]
    workers.procs = [
        SimpleNamespace(pid=1000 + i, exitcode=0, join=lambda t: None) for i in range(n)
    ]
    return workers, [child for _, child in pipes]


def test_gather_gives_up_on_workers_that_never_answer():
    workers, ends = stub_workers(2)
    ends[0].send_bytes(pack("result", "a"))
    started = time.monotonic()
    with pytest.raises(PointFailed, match="client processes sent no 'result' within 1 s"):
        workers.gather("result", 1.0)
    assert time.monotonic() - started < 5


def test_gather_ignores_a_worker_that_exits_after_answering():
    """A client process that has sent its result exits; its closed pipe is no death."""
    workers, ends = stub_workers(2)
    ends[0].send_bytes(pack("result", "a"))
    ends[0].close()  # what its exit does
    threading.Timer(0.5, ends[1].send_bytes, args=(pack("result", "b"),)).start()
    assert workers.gather("result", 10.0) == ["a", "b"]


def test_gather_reports_a_worker_that_dies_before_answering():
    workers, ends = stub_workers(2)
    workers.procs[1].exitcode = -9
    ends[0].send_bytes(pack("result", "a"))
    ends[1].close()
    with pytest.raises(PointFailed, match="client process 1: pid 1001 was killed by SIGKILL"):
        workers.gather("result", 10.0)
