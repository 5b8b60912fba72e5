"""When clients send: the open loop's schedule, and a send never before its intended time
whatever the timer underneath does (uvloop's wake up to ~1.5 ms early)."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import pytest
import uvloop

from bench.loadgen import pacing
from bench.loadgen.pacing import OpenLoop, sleep_until

MS = 1_000_000


@dataclass
class FakeClient:
    index: int
    alive: bool = True
    away: bool = False


class Sends:
    """The pacer's ``send``: when each send happened, and what it was intended for."""

    def __init__(self) -> None:
        self.log: list[tuple[int, int, int]] = []  # (client, intended ns, actual ns)

    def __call__(self, client: FakeClient, intended_ns: int) -> None:
        self.log.append((client.index, intended_ns, time.monotonic_ns()))

    def early(self) -> list[int]:
        """How early (ns) each send that went out before its intended time was."""
        return [intended - actual for _, intended, actual in self.log if actual < intended]


def run_open_loop(
    clients: list[FakeClient], rate: float, duration_s: float, arrival: str = "constant"
) -> tuple[Sends, int, int]:
    sends = Sends()

    async def main() -> tuple[int, int]:
        pacer = OpenLoop(
            sends,  # type: ignore[arg-type]
            asyncio.Event(),
            rate=rate,
            arrival=arrival,
            seed=7,
            total_clients=len(clients),
        )
        t0 = time.monotonic_ns() + 20 * MS
        end = t0 + int(duration_s * 1e9)
        await pacer.run(clients, t0, end)  # type: ignore[arg-type]
        return t0, end

    t0, end = asyncio.run(main())
    return sends, t0, end


def test_open_loop_never_sends_before_the_intended_time_when_the_timer_wakes_early(
    monkeypatch,
):
    """asyncio's timer here wakes 1.5 ms before it is due, every time (uvloop's can, by up
    to ~1.5 ms): every send still goes out at or after its intended time."""
    real_sleep = asyncio.sleep

    async def early_sleep(delay: float, result=None):
        await real_sleep(max(0.0, delay - 0.0015))
        return result

    monkeypatch.setattr(asyncio, "sleep", early_sleep)
    monkeypatch.setattr(pacing, "USE_ALARM", False, raising=False)  # asyncio's timers
    sends, _, _ = run_open_loop([FakeClient(i) for i in range(4)], rate=50.0, duration_s=0.3)
    assert len(sends.log) == 4 * 15
    assert sends.early() == []


def test_open_loop_never_sends_early_when_its_alarm_fires_early(monkeypatch):
    """The same with the timerfd alarm made to fire 1 ms early."""
    real_wait = pacing.Alarm.wait

    async def early_wait(self, deadline_ns: int) -> None:
        await real_wait(self, deadline_ns - MS)

    monkeypatch.setattr(pacing.Alarm, "wait", early_wait)
    sends, _, _ = run_open_loop([FakeClient(i) for i in range(4)], rate=50.0, duration_s=0.3)
    assert len(sends.log) == 4 * 15
    assert sends.early() == []


def test_the_alarm_never_fires_before_its_deadline():
    """A timerfd on the monotonic clock, on uvloop as the workers run it: 200 waits of
    0.05 to 3 ms, none returns before its deadline."""
    rng = random.Random(1)

    async def main() -> list[int]:
        alarm = pacing.Alarm.open()
        assert alarm is not None
        early = []
        try:
            for _ in range(200):
                deadline = time.monotonic_ns() + rng.randint(50_000, 3 * MS)
                await alarm.wait(deadline)
                now = time.monotonic_ns()
                if now < deadline:
                    early.append(deadline - now)
        finally:
            alarm.close()
        return early

    assert uvloop.run(main()) == []


def test_sleep_until_on_uvloop_never_returns_early():
    """asyncio's timers on uvloop wake early about a third of the time; sleep_until
    yields the rest of the way."""

    async def main() -> list[int]:
        early = []
        for n in range(100):
            deadline = time.monotonic_ns() + (n % 7 + 1) * MS + n * 10_000
            await sleep_until(deadline)
            if (now := time.monotonic_ns()) < deadline:
                early.append(deadline - now)
        return early

    assert uvloop.run(main()) == []


def test_sleep_until_returns_when_stop_is_set():
    async def main() -> float:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, stop.set)
        started = time.monotonic()
        await sleep_until(time.monotonic_ns() + 10_000 * MS, stop)
        return time.monotonic() - started

    assert uvloop.run(main()) < 1.0


def test_constant_arrival_spreads_the_senders_over_one_period():
    # 4 clients at 20/s: a period of 50 ms, senders 12.5 ms apart, 4 sends each in 0.2 s.
    sends, t0, _ = run_open_loop([FakeClient(i) for i in range(4)], rate=20.0, duration_s=0.2)
    period = 50 * MS
    for i in range(4):
        mine = [intended - t0 for index, intended, _ in sends.log if index == i]
        assert mine == pytest.approx([period * i / 4 + k * period for k in range(4)], abs=2)


def test_poisson_arrival_follows_each_clients_seeded_gaps():
    sends, t0, end = run_open_loop(
        [FakeClient(i) for i in range(3)], rate=100.0, duration_s=0.2, arrival="poisson"
    )
    for i in range(3):
        rng = random.Random(7 * 1_000_003 + i)
        expected, at = [], t0 + rng.expovariate(100.0) * 1e9
        while at < end:
            expected.append(int(at))
            at += rng.expovariate(100.0) * 1e9
        assert [intended for index, intended, _ in sends.log if index == i] == expected


def test_a_client_that_is_gone_stops_sending():
    clients = [FakeClient(0), FakeClient(1, alive=False)]
    sends, _, _ = run_open_loop(clients, rate=50.0, duration_s=0.1)
    assert {index for index, _, _ in sends.log} == {0}


def test_a_client_away_to_reconnect_keeps_its_place_in_the_schedule():
    # Away (bench.loadgen.reconnect): not alive for now, but its turns keep coming, so
    # that its replacement sends on the same schedule once it is back.
    clients = [FakeClient(0), FakeClient(1, alive=False, away=True)]
    sends, _, _ = run_open_loop(clients, rate=50.0, duration_s=0.1)
    assert len([1 for index, _, _ in sends.log if index == 1]) == 5
