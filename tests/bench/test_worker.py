"""One worker's phases without a server: what a send records, when the drain ends, and the
garbage collector kept out of the load. Clients are fakes; the clock is the real one."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import pytest
from helpers import chat_frame

from bench.loadgen.worker import Worker, WorkerPlan
from bench.protocols import MEASURED
from bench.scenario import Point

MS = 1_000_000


class FakeLink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def send(self, kind: str, value: Any) -> None:
        self.sent.append((kind, value))


class FakeClient:
    def __init__(self, index: int, room: int = 0) -> None:
        self.index, self.room, self.book = index, room, room
        self.alive = True
        self.away = False
        self.seq = 0
        self.waiting_since_ns = 0
        self.frames: list[tuple[int, str]] = []

    def send(self, intended_ns: int, phase: str) -> None:
        self.frames.append((intended_ns, phase))
        self.seq += 1

    def hang_up(self) -> None:
        self.alive = False


def plan(**changes: Any) -> WorkerPlan:
    """A plan for two clients in one room; ``changes`` are the point's keys."""
    point: dict[str, Any] = {
        "clients": 2,
        "mode": "open",
        "rate": 10.0,
        "message_bytes": 8,
        "warmup_s": 0.1,
        "duration_s": 0.2,
        "drain_quiet_s": 0.05,
        "drain_max_s": 3.0,
        **changes,
    }
    return WorkerPlan(
        worker=0,
        clients=[(0, 0), (1, 0)],
        url_template="ws://127.0.0.1:1/{room}",
        origin="http://127.0.0.1:1",
        point=Point(**point),
    )


def worker_with_members(p: WorkerPlan) -> tuple[Worker, list[FakeClient]]:
    worker = Worker(p, FakeLink())  # type: ignore[arg-type]
    clients = [FakeClient(index, room) for index, room in p.clients]
    for client in clients:
        worker.ledger.join(client.room)
    return worker, clients


def test_an_open_loop_send_records_how_late_it_went_out():
    worker, (client, _) = worker_with_members(plan(mode="open"))
    now = time.monotonic_ns()
    worker.ledger.window = (now - 10_000 * MS, now + 10_000 * MS)
    intended = now - 3 * MS  # the pacer hands it over 3 ms after its time
    worker._send_next(client, intended)  # type: ignore[arg-type]
    assert client.frames == [(intended, MEASURED)]  # stamped with the intended time
    (lateness_us,) = worker.ledger.lateness_us
    assert 3000 <= lateness_us < 3000 + 1_000_000  # 3 ms, and whatever this machine adds
    assert worker.finish().lateness_histogram


def test_a_closed_loop_send_records_no_lateness():
    """In closed loop the intended time is the moment the echo came back, and the send
    follows at once: late by construction never, so nothing is recorded."""
    worker, (client, _) = worker_with_members(plan(mode="closed"))
    now = time.monotonic_ns()
    worker.ledger.window = (now - 10_000 * MS, now + 10_000 * MS)
    worker._send_next(client, now - 3 * MS)  # type: ignore[arg-type]
    assert len(worker.ledger.lateness_us) == 0
    assert worker.ledger.counts.sent_measured == 1


def test_a_dropped_receiver_leaves_the_room_at_that_moment():
    worker, (client, _) = worker_with_members(plan())
    start = time.monotonic_ns() - 5 * MS
    worker.ledger.window = (start, start + 10_000 * MS)
    worker.on_malformed(client)  # type: ignore[arg-type]
    worker.on_malformed(client)  # a second bad frame before the hang-up took effect
    worker.finish()
    (left_us,) = worker.ledger.rooms[0].departures_us
    assert 5000 <= left_us < 5000 + 1_000_000
    assert not client.alive


def receive_later(worker: Worker, after_s: float, frames: list[tuple[int, int, int]]) -> None:
    """Deliver (receiver, sender, seq) measured frames ``after_s`` from now."""

    def deliver() -> None:
        now = time.monotonic_ns()
        for receiver, sender, seq in frames:
            data = chat_frame(sender, seq, worker.ledger.window[0], MEASURED, "x")
            worker.ledger.receive(receiver, 0, data, now)

    asyncio.get_running_loop().call_later(after_s, deliver)


def test_the_drain_waits_through_a_pause_for_what_its_rooms_are_owed():
    """Both members of the room are here: the books know 4 deliveries are owed (2 sends
    to 2 members). Nothing arrives for 0.4 s, eight times drain_quiet_s, then everything:
    the drain waits for it, and ends as soon as it is in."""

    async def main() -> Worker:
        worker, _ = worker_with_members(plan(drain_quiet_s=0.05))
        now = time.monotonic_ns()
        worker.ledger.window = (now - 100 * MS, now)
        worker.ledger.record_send(0, MEASURED, now - 50 * MS)
        worker.ledger.record_send(0, MEASURED, now - 40 * MS)
        receive_later(worker, 0.4, [(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)])
        await worker._drain()
        return worker

    worker = asyncio.run(main())
    assert worker.ledger.counts.delivered == 4
    assert 0.4 <= worker.result.drain_s < 1.5


def test_the_drain_ends_at_once_when_nothing_is_owed():
    async def main() -> Worker:
        worker, _ = worker_with_members(plan(drain_quiet_s=1.0))
        now = time.monotonic_ns()
        worker.ledger.window = (now - 100 * MS, now)
        await worker._drain()
        return worker

    assert asyncio.run(main()).result.drain_s < 0.5


def test_the_drain_gives_up_on_what_is_lost_at_drain_max_s():
    async def main() -> Worker:
        worker, _ = worker_with_members(plan(drain_quiet_s=0.05, drain_max_s=0.3))
        now = time.monotonic_ns()
        worker.ledger.window = (now - 100 * MS, now)
        worker.ledger.record_send(0, MEASURED, now - 50 * MS)  # never comes back
        await worker._drain()
        return worker

    assert 0.3 <= asyncio.run(main()).result.drain_s < 1.0


def test_where_rooms_are_shared_the_drain_waits_four_p99s_of_silence():
    """Another worker holds clients of this room, so what is owed is not known here: the
    drain ends after a silence of 4 x the p99 so far (100 ms here: 0.4 s), not after
    drain_quiet_s (0.05 s)."""

    async def main() -> Worker:
        worker, _ = worker_with_members(plan(clients=4, drain_quiet_s=0.05))
        now = time.monotonic_ns()
        worker.ledger.window = (now - 1000 * MS, now)
        for seq in range(100):  # latencies of 100 ms, arrived just now
            data = chat_frame(3, seq, now - 100 * MS, MEASURED, "x")
            worker.ledger.receive(0, 0, data, now)
        await worker._drain()
        return worker

    assert 0.4 <= asyncio.run(main()).result.drain_s < 1.5


def test_the_collector_is_off_during_the_load_and_back_on_after_it():
    seen: list[bool] = []

    async def main() -> Worker:
        # Warm-up 0 to 50 ms, window to 150 ms, then a drain until drain_max_s (0.2 s):
        # the one measured send (at 80 ms) never comes back.
        p = plan(mode="closed", warmup_s=0.05, duration_s=0.1, drain_max_s=0.2)
        worker, _ = worker_with_members(p)
        loop = asyncio.get_running_loop()
        t0 = time.monotonic_ns()
        loop.call_later(0.08, lambda: worker.ledger.record_send(0, MEASURED, t0 + 80 * MS))
        for after_s in (0.02, 0.1, 0.25):  # warm-up, measured window, drain
            loop.call_later(after_s, lambda: seen.append(gc.isenabled()))
        await worker.run_load(t0)
        return worker

    assert gc.isenabled()
    worker = asyncio.run(main())
    assert seen == [False, False, False]
    assert worker.result.drain_s >= 0.2
    assert gc.isenabled()


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_progress_counts_good_deliveries(mode):
    worker, _ = worker_with_members(plan(mode=mode))
    now = time.monotonic_ns()
    worker.ledger.window = (now - 100 * MS, now + 10_000 * MS)
    data = chat_frame(1, 0, now - MS, MEASURED, "x")
    for _ in range(3):
        worker.ledger.receive(0, 0, data, now)

    async def main() -> None:
        reporter = asyncio.ensure_future(worker._report_progress())
        await asyncio.sleep(0.6)
        reporter.cancel()

    asyncio.run(main())
    link = worker.link
    assert isinstance(link, FakeLink)
    (_, progress), *_ = link.sent
    assert progress.received == 1


def test_messages_caps_what_each_client_sends():
    """``messages`` (a churn cycle's share): a client that has sent it sends no more,
    whatever the pacer asks; the other clients are not held to its count."""
    worker, (first, second) = worker_with_members(plan(mode="closed", messages=2))
    now = time.monotonic_ns()
    worker.ledger.window = (now - 10_000 * MS, now + 10_000 * MS)
    for _ in range(5):
        worker._send_next(first, time.monotonic_ns())  # type: ignore[arg-type]
    worker._send_next(second, time.monotonic_ns())  # type: ignore[arg-type]
    assert len(first.frames) == 2 and len(second.frames) == 1
    assert worker.ledger.counts.sent == 3
