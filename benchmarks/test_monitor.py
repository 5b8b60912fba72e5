"""What one sample of the monitor costs: the runner's thread reads a real Daphne with 2
workers (a supervisor and two Daphne processes, each with open websockets) at 10 Hz.

    PYTHONPATH=$PWD .venv/bin/python -m pytest benchmarks/test_monitor.py \
        -p no:cacheprovider --benchmark-only

``sample`` is one 10 Hz reading of the tree; ``mark`` one reading at a window's edge
(every thread, the machine, the clients' waits; at the start the connections per
worker, at the end memory and open files). The cost is
the runner's thread's time, and the kernel's work filling the process files.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from websockets.sync.client import connect
from websockets.typing import Origin

from bench.deploy.processes import free_port, process_tree
from bench.deploy.servers import DaphneServer
from bench.deploy.site import ServerSettings, origin, ws_url
from bench.run.monitor import ProcessMonitor
from bench.scenario import Point

HOST = "127.0.0.1"
WORKERS = 2
# Open websockets on the sync route, so the workers hold connections and threads.
SOCKETS = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    port = free_port(HOST)
    log = tmp_path_factory.mktemp("monitor") / "daphne.log"
    with DaphneServer(ServerSettings(Point(workers=WORKERS)), HOST, port, log) as daphne:
        daphne.wait_ready("sync")
        with ExitStack() as stack:
            for room in range(SOCKETS):
                url = ws_url(HOST, port, "sync", f"r{room}")
                stack.enter_context(connect(url, origin=Origin(origin(HOST, port))))
            assert len(process_tree(daphne.pid)) == 1 + WORKERS
            yield daphne


def test_sample(benchmark, server: DaphneServer) -> None:
    monitor = ProcessMonitor({"server": server.pid}, hz=0, server_port=server.port)
    monitor.start()
    watched = monitor.watched["server"]
    benchmark(lambda: monitor._sample(watched, time.monotonic(), 0.1))
    assert len(watched.series.t_s) > 0


@pytest.mark.parametrize("edge", ["start", "end"])
def test_mark(benchmark, server: DaphneServer, edge: str) -> None:
    monitor = ProcessMonitor({"server": server.pid}, hz=0, server_port=server.port)
    monitor.start()
    benchmark(lambda: monitor.mark(edge))
