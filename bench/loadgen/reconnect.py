"""Churn under load: clients that leave and come back while the others send.

During an open-loop load, ``reconnect_per_s`` clients a second (this worker's share of
them) each close their websocket, connect again, rejoin their room and go on sending,
as Centrifugo's tests churn connections under load. The books stay whole
(``ledger.DeliveryLedger.go_away``): from the moment a client leaves until it is back in
its room it is owed nothing, and what arrives for it meanwhile is ignored. Before it
closes, the leaving client lingers (``linger_s``: the silence that ends a drain, from
the recent p99; no sends, nothing new owed), so that what was sent to it before it left
can still arrive.

Bounded: one reconnect every 1 / share seconds from the start of the warm-up to the end
of the window, each connect within the handshake timeout; whatever is in flight at the
end is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass

from bench.loadgen import clock
from bench.loadgen.clients import ChatClient, connect_all
from bench.loadgen.ledger import DeliveryLedger
from bench.loadgen.pacing import sleep_until
from bench.protocols import Loaded
from bench.results.books import WorkerResult

# What a failed reconnect is named in the worker's connect errors.
PREFIX = "reconnect: "


@dataclass
class Reconnector:
    """This worker's share of the reconnects, against its clients (replaced in place in
    ``clients``: the pacer's schedule holds their positions, not the objects)."""

    clients: list[ChatClient]
    ledger: DeliveryLedger
    new_client: Callable[[int, int], ChatClient]
    protocol: Loaded
    result: WorkerResult
    stop: asyncio.Event
    url_template: str
    origin: str
    per_s: float  # this worker's share
    linger_s: Callable[[], float]
    seed: int = 0

    async def run(self, t0_ns: int, end_ns: int) -> None:
        """Reconnect a present client every 1 / ``per_s`` seconds until ``end_ns``."""
        if self.per_s <= 0 or not self.clients:
            return
        rng = random.Random(self.seed)
        interval_ns = 1e9 / self.per_s
        next_ns = t0_ns + interval_ns * rng.random()  # workers out of step with each other
        tasks: set[asyncio.Task[None]] = set()
        try:
            while next_ns < end_ns and not self.stop.is_set():
                await sleep_until(int(next_ns), self.stop)
                if self.stop.is_set() or clock.now_ns() >= end_ns:
                    break
                here = [n for n, c in enumerate(self.clients) if c.alive and not c.away]
                if here:
                    task = asyncio.create_task(self.reconnect(rng.choice(here)))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                next_ns += interval_ns
            await self._settle(tasks, end_ns)
        finally:
            for task in tasks:
                task.cancel()

    async def _settle(self, tasks: set[asyncio.Task[None]], end_ns: int) -> None:
        """Let reconnects under way finish until the window ends."""
        while tasks and clock.now_ns() < end_ns and not self.stop.is_set():
            await asyncio.sleep(0.05)

    async def reconnect(self, n: int) -> None:
        """Client ``n`` leaves now, lingers, hangs up, connects again and rejoins."""
        old = self.clients[n]
        old.away = True  # sends nothing more, and the pacer keeps its place
        absence = self.ledger.go_away(old.index, old.book, clock.now_ns())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), self.linger_s())
        old.alive = False  # our hang-up, not the server's disconnect
        old.hang_up()
        if self.stop.is_set():
            return

        def fresh(index: int, room: int) -> ChatClient:
            client = self.new_client(index, room)
            client.seq, client.away = old.seq, True
            return client

        errors: dict[str, int] = {}
        got = await connect_all(
            fresh,
            [(old.index, old.room)],
            self.url_template,
            self.origin,
            0.0,
            self.result.reconnect_ms,
            errors,
        )
        counts = self.result.counts
        if not got:  # away for the rest of the load: its absence never ends
            counts.reconnect_failures += 1
            for name, count in errors.items():
                key = PREFIX + name
                self.result.connect_errors[key] = self.result.connect_errors.get(key, 0) + count
            return
        (new,) = got
        for frame in self.protocol.hello(new.index, new.room):
            new.write(frame)
        self.ledger.come_back(absence, clock.now_ns())
        self.clients[n] = new
        new.away = False
        counts.reconnects += 1
