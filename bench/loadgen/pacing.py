"""When each client sends: the closed-loop and open-loop pacers, and the clock they keep.

A pacer decides only the intended send time and hands it to ``send``; the worker turns
that into a frame and the books. Closed loop sends a client's next message when its own
previous one comes back. Open loop sends on a fixed (or Poisson) schedule and latency
counts from the intended time, so a stalled server shows as latency, not as fewer samples
(coordinated omission, as wrk2 handles it).

Open loop never sends before a message's intended time. uvloop's timers count whole
milliseconds against a cached clock, so a plain ``asyncio.sleep`` wakes up to ~1.5 ms
early about a third of the time: the send would go out early, stamped on time, and its
latency read low. ``sleep_until`` sleeps on a coarse timer to within a short stretch of
the deadline, then yields (``asyncio.sleep(0)``: arrivals are still served, and stamped,
meanwhile) until the monotonic clock has passed it; an early wake-up costs a little
yielding, never an early send. The open loop's coarse timer is an ``Alarm``, a timerfd on
CLOCK_MONOTONIC (the clock of ``time.monotonic_ns``) armed at an absolute time, which the
kernel never fires early: its yielding stretch is 0.2 ms instead of 2 ms (measured for
100 clients at 5 messages/s, without sockets: about a tenth of a core where 2 ms of
yielding takes half of one; sends go out a median 5-30 µs after their time).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import heapq
import os
import random
from collections.abc import Callable, Sequence

from bench.loadgen import clock
from bench.loadgen.clients import ChatClient
from bench.protocols import Token

# A closed-loop client whose message has not come back in this long sends its next one
# anyway (and counts a timeout), so one lost broadcast cannot silence it for the run.
CLOSED_LOOP_TIMEOUT_S = 5.0
# How often the closed loop looks for clients past CLOSED_LOOP_TIMEOUT_S.
TIMEOUT_CHECK_S = 0.1
# The last stretch before a deadline spent yielding rather than on a timer: asyncio's
# timers (uvloop's wake up to ~1.5 ms early), and the Alarm's (never early; 0.2 ms covers
# the wake-up of a sleeping thread, so the send goes out within microseconds).
SPIN_NS = 2_000_000
ALARM_SPIN_NS = 200_000
# Whether the open loop may use a timerfd (tests turn it off to exercise the fallback).
USE_ALARM = True

# Send ``client``'s next message, intended at the given monotonic ns.
Send = Callable[[ChatClient, int], None]


class Pacer:
    """Drives every client's sends from ``t0_ns`` until the measured window ends."""

    # Whether sends follow a schedule, so that a send can be late: open loop. In closed
    # loop the intended time is the moment the previous message came back, and the send
    # follows it at once: its lateness is 0 by construction, and is not recorded.
    scheduled = False

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
            self.send(client, clock.now_ns())
        timeout_ns = int(CLOSED_LOOP_TIMEOUT_S * 1e9)
        while (now := clock.now_ns()) < end_ns and not self.stop.is_set():
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
    One schedule (a heap of the clients' next intended times) and one timer serve every
    client: each send waits for its time (never less), then every send that is due goes.
    """

    scheduled = True

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
        period_ns = 1e9 / self.rate
        rngs = [random.Random(self.seed * 1_000_003 + c.index) for c in clients]

        def gap_ns(n: int) -> float:
            return rngs[n].expovariate(self.rate) * 1e9 if self.poisson else period_ns

        # (intended ns, position in clients): the position breaks ties, in client order.
        schedule = [
            (
                t0_ns + gap_ns(n)
                if self.poisson
                else t0_ns + period_ns * client.index / self.total_clients,
                n,
            )
            for n, client in enumerate(clients)
        ]
        heapq.heapify(schedule)
        alarm = Alarm.open() if USE_ALARM else None
        try:
            while schedule and not self.stop.is_set():
                due_ns = int(schedule[0][0])
                if due_ns >= end_ns:
                    break
                await sleep_until(due_ns, alarm=alarm)
                now = clock.now_ns()
                while schedule and int(schedule[0][0]) <= now and not self.stop.is_set():
                    next_ns, n = heapq.heappop(schedule)
                    client = clients[n]  # read again: a reconnect replaces it
                    if int(next_ns) >= end_ns or not (client.alive or client.away):
                        continue  # this client is done
                    self.send(client, int(next_ns))
                    heapq.heappush(schedule, (next_ns + gap_ns(n), n))
        finally:
            if alarm is not None:
                alarm.close()


async def sleep_until(
    deadline_ns: int, stop: asyncio.Event | None = None, *, alarm: Alarm | None = None
) -> None:
    """Return once the monotonic clock has reached ``deadline_ns``, never before (at once
    if it has passed), or as soon as ``stop`` is set.

    A coarse timer (``alarm``, or asyncio's) takes it to within ``ALARM_SPIN_NS`` (or
    ``SPIN_NS``) of the deadline, again if it woke too early; the last stretch yields to
    the event loop until the clock passes the deadline."""
    spin_ns = ALARM_SPIN_NS if alarm is not None else SPIN_NS
    while (remaining := deadline_ns - clock.now_ns()) > 0:
        if stop is not None and stop.is_set():
            return
        if remaining <= spin_ns:
            await asyncio.sleep(0)
        elif alarm is not None:
            await alarm.wait(deadline_ns - spin_ns)
        elif stop is None:
            await asyncio.sleep((remaining - spin_ns) / 1e9)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), (remaining - spin_ns) / 1e9)


# --- the Alarm: a timerfd, through ctypes (os.timerfd_create is Python 3.13+) ------------

CLOCK_MONOTONIC = 1
TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class Alarm:
    """A timer with nanosecond resolution on the running event loop: a Linux timerfd on
    CLOCK_MONOTONIC, armed at an absolute time, so that it never fires before that time.

    ``Alarm.open()`` returns None where there is no timerfd; callers then use asyncio's
    timers (and a longer yielding stretch)."""

    def __init__(self, fd: int, settime: Callable[..., int]) -> None:
        self.fd = fd
        self._settime = settime
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None
        self._loop.add_reader(fd, self._fired)

    @classmethod
    def open(cls) -> Alarm | None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            create, settime = libc.timerfd_create, libc.timerfd_settime
        except (OSError, AttributeError):
            return None
        fd = create(CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return None
        return cls(fd, settime)

    async def wait(self, deadline_ns: int) -> None:
        """Wait until ``deadline_ns`` on the monotonic clock, or a little after."""
        at_ns = clock.monotonic_ns(deadline_ns)  # the timerfd counts the system's clock
        value = _Timespec(at_ns // 1_000_000_000, at_ns % 1_000_000_000)
        spec = _Itimerspec(_Timespec(0, 0), value)
        if self._settime(self.fd, TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _fired(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 8)  # the expiration count; reading re-arms the readiness
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self) -> None:
        self._loop.remove_reader(self.fd)
        os.close(self.fd)
