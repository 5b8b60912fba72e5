"""When each client sends: the closed-loop and open-loop pacers.

A pacer decides only the intended send time and hands it to ``send``; the worker turns
that into a frame and the books. Closed loop sends a client's next message when its own
previous one comes back. Open loop sends on a fixed (or Poisson) schedule and latency
counts from the intended time, so a stalled server shows as latency, not as fewer samples
(coordinated omission, as wrk2 handles it).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence

from bench.loadgen.clients import ChatClient
from bench.loadgen.protocol import Token

# A closed-loop client whose message has not come back in this long sends its next one
# anyway (and counts a timeout), so one lost broadcast cannot silence it for the run.
CLOSED_LOOP_TIMEOUT_S = 5.0
# How often the closed loop looks for clients past CLOSED_LOOP_TIMEOUT_S.
TIMEOUT_CHECK_S = 0.1

# Send ``client``'s next message, intended at the given monotonic ns.
Send = Callable[[ChatClient, int], None]


class Pacer:
    """Drives every client's sends from ``t0_ns`` until the measured window ends."""

    def __init__(self, send: Send, stop: asyncio.Event) -> None:
        self.send = send
        self.stop = stop
        self.timeouts = 0  # closed loop: messages re-sent after CLOSED_LOOP_TIMEOUT_S

    async def run(self, clients: Sequence[ChatClient], t0_ns: int, end_ns: int) -> None:
        raise NotImplementedError

    def on_echo(self, client: ChatClient, token: Token, now_ns: int) -> None:
        """``client`` received ``token`` (any phase) at ``now_ns``."""


class ClosedLoop(Pacer):
    """Each client sends its next message when its own previous one comes back."""

    async def run(self, clients: Sequence[ChatClient], t0_ns: int, end_ns: int) -> None:
        await sleep_until(t0_ns)
        for client in clients:
            self.send(client, time.monotonic_ns())
        timeout_ns = int(CLOSED_LOOP_TIMEOUT_S * 1e9)
        while (now := time.monotonic_ns()) < end_ns and not self.stop.is_set():
            for client in clients:
                if client.alive and now - client.waiting_since_ns > timeout_ns:
                    self.timeouts += 1
                    self.send(client, now)
            await asyncio.sleep(TIMEOUT_CHECK_S)

    def on_echo(self, client: ChatClient, token: Token, now_ns: int) -> None:
        if token.sender == client.index and token.seq == client.seq - 1:
            self.send(client, now_ns)


class OpenLoop(Pacer):
    """Each client sends ``rate`` messages a second, on a schedule that ignores replies.

    ``constant``: the senders' phases spread evenly over one period, across all workers
    (``total_clients``); ``poisson``: exponential gaps from an RNG seeded per client.
    """

    def __init__(
        self,
        send: Send,
        stop: asyncio.Event,
        *,
        rate: float,
        arrival: str,
        seed: int,
        total_clients: int,
    ) -> None:
        super().__init__(send, stop)
        self.rate = rate
        self.poisson = arrival == "poisson"
        self.seed = seed
        self.total_clients = total_clients

    async def run(self, clients: Sequence[ChatClient], t0_ns: int, end_ns: int) -> None:
        await asyncio.gather(*(self._client(c, t0_ns, end_ns) for c in clients))

    async def _client(self, client: ChatClient, t0_ns: int, end_ns: int) -> None:
        period_ns = 1e9 / self.rate
        rng = random.Random(self.seed * 1_000_003 + client.index)
        if self.poisson:
            next_ns = t0_ns + rng.expovariate(self.rate) * 1e9
        else:
            next_ns = t0_ns + period_ns * client.index / self.total_clients
        while next_ns < end_ns and client.alive and not self.stop.is_set():
            await sleep_until(int(next_ns))
            self.send(client, int(next_ns))
            next_ns += rng.expovariate(self.rate) * 1e9 if self.poisson else period_ns


async def sleep_until(deadline_ns: int, stop: asyncio.Event | None = None) -> None:
    """Sleep until the monotonic ``deadline_ns`` (not at all if it has passed), or until
    ``stop`` is set."""
    delay_s = (deadline_ns - time.monotonic_ns()) / 1e9
    if delay_s <= 0:
        return
    if stop is None:
        await asyncio.sleep(delay_s)
    else:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay_s)
