"""The worker's end of the pipe to the runner, on the event loop the workers run."""

from __future__ import annotations

import threading
from multiprocessing import Pipe

import uvloop

from bench.loadgen.link import RESULT, Connected, RunnerLink, unpack


def test_a_result_bigger_than_the_pipe_buffer_arrives_whole():
    """The event loop makes the pipe non-blocking to watch it for commands; a result of
    several megabytes (a large run's books) must still go through once it stops."""
    runner_end, worker_end = Pipe()
    big = {"sends_us": list(range(1_000_000))}  # about 8 MB of JSON
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(runner_end.recv_bytes()), daemon=True)

    async def main() -> None:
        link = RunnerLink(worker_end)
        link.listen()
        link.close()
        reader.start()  # the runner reads while the worker writes, as the pool does
        link.send(RESULT, big)

    uvloop.run(main())
    reader.join(10)
    assert received, "the result never arrived"
    assert unpack(received[0]) == (RESULT, big)


def test_connect_reports_sum_with_every_handshake_time():
    """The staircase's connect percentiles come from every worker's handshakes."""
    reports = [
        Connected(2, 0, {}, [1.0, 3.0]).to_json(),
        Connected(1, 1, {"OSError": 1}, [2.0]).to_json(),
    ]
    total = Connected.total(reports)
    assert (total.connected, total.failures, sorted(total.connect_ms)) == (3, 1, [1.0, 2.0, 3.0])
    assert Connected.total([{"connected": 1}]).connect_ms == []  # an older worker's report
