"""The load generator: websocket chat clients in worker processes, never in the server.

Each worker process runs its share of the clients on uvloop with picows (the fastest
Python websocket client measured here; see ``chanbench calibrate``). Phases: connect,
warm-up (sent but not recorded), measured, drain (no more sends; ends when nothing has
arrived for ``drain_quiet_s``). Every message carries its sender, sequence number, send
time and phase inside the tutorial's ``message`` text, so the consumers run unchanged and
every member of a room can account for every broadcast.

Closed loop: a client sends its next message when its own previous one comes back.
Open loop: a client sends on a fixed schedule and latency counts from the intended send
time, so a stalled server shows as latency, not as fewer samples (as wrk2 does it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import signal
import time
from array import array
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench import stats
from bench.processes import die_with_parent, raise_open_file_limit

# A closed-loop client whose message has not come back in this long sends its next one
# anyway (and counts a timeout), so one lost broadcast cannot silence it for the run.
CLOSED_LOOP_TIMEOUT_S = 5.0
# Handshakes in flight at once per worker: enough to connect thousands of clients in
# seconds without a SYN flood on Daphne's accept backlog.
CONNECT_CONCURRENCY = 64
CONNECT_TIMEOUT_S = 10.0
# How often a worker reports its counters to the runner, for the progress line.
PROGRESS_INTERVAL_S = 0.5
# Phases carried in each message: warm-up messages are delivered but not accounted.
WARMUP, MEASURED = "w", "m"


@dataclass
class WorkerPlan:
    """What one worker process does: its clients, and the run's shape."""

    worker: int
    # (global client index, room index) for each of this worker's clients.
    clients: list[tuple[int, int]]
    total_clients: int
    url_template: str  # with {room}
    origin: str
    mode: str
    rate: float
    arrival: str
    message_bytes: int
    warmup_s: float
    duration_s: float
    drain_quiet_s: float
    drain_max_s: float
    connect_rate: float  # this worker's share, connections per second (0: no limit)
    compression: bool = False  # permessage-deflate, through the websockets library
    seed: int = 0


@dataclass
class WorkerResult:
    """One worker's raw counts; the runner merges them across workers."""

    worker: int
    clients: int
    connected: int = 0
    compressed: int = 0  # clients whose server accepted permessage-deflate
    connect_failures: int = 0
    connect_errors: dict[str, int] = field(default_factory=dict)
    connect_ms: list[float] = field(default_factory=list)
    # room index -> [connected members, measured messages sent by members, deliveries]
    rooms: dict[int, list[int]] = field(default_factory=dict)
    sent: int = 0
    sent_measured: int = 0
    delivered: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    malformed: int = 0
    disconnected: int = 0
    closed_loop_timeouts: int = 0
    received_in_window: int = 0
    latency_histogram: str = ""
    cpu_s: float = 0.0
    measured_s: float = 0.0
    max_loop_lag_ms: float = 0.0
    drain_s: float = 0.0
    interrupted: bool = False


class ChatClient:
    """One chat client: the protocol and the books; subclasses carry the frames."""

    def __init__(self, worker: Worker, index: int, room: int) -> None:
        self.worker = worker
        self.index = index
        self.room = room
        self.seq = 0
        self.waiting_since_ns = 0  # closed loop: when the unanswered message was sent
        self.alive = False

    async def open(self, url: str, origin: str) -> None:
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def hang_up(self) -> None:
        """Close the connection now; what is in flight is lost."""
        raise NotImplementedError

    def send(self, intended_ns: int, phase: str) -> None:
        body = f"{self.index}|{self.seq}|{intended_ns}|{phase}|{self.worker.padding}"
        self.write(json.dumps({"message": body}).encode())
        self.seq += 1
        self.waiting_since_ns = intended_ns

    def closed(self) -> None:
        if self.alive:
            self.alive = False
            self.worker.on_disconnected(self)


class PicowsClient(ChatClient, WSListener):
    """The default: picows on uvloop, the fastest Python client measured, no compression."""

    transport: WSTransport | None = None

    async def open(self, url: str, origin: str) -> None:
        await ws_connect(
            lambda: self,
            url,
            extra_headers={"Origin": origin},
            websocket_handshake_timeout=CONNECT_TIMEOUT_S,
        )

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.alive = True

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT and frame.fin:
            self.worker.on_message(self, frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()
        elif frame.msg_type != WSMsgType.PONG:
            self.worker.on_malformed(self)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, data)

    def hang_up(self) -> None:
        if self.transport is not None:
            self.transport.send_close()
            self.transport.disconnect()


class DeflateClient(ChatClient):
    """For scenarios with ``compression = true``: the websockets library, which negotiates
    permessage-deflate (picows does not); slower, so calibrate with it too."""

    ws: Any = None

    async def open(self, url: str, origin: str) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Origin

        self.ws = await connect(
            url,
            origin=Origin(origin),
            compression="deflate",
            open_timeout=CONNECT_TIMEOUT_S,
            max_size=None,
        )
        self.alive = True
        if self.ws.protocol.extensions:  # the server may decline (Daphne does)
            self.worker.result.compressed += 1
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        # One reader and one writer task: frames go out in order, without awaiting a send.
        self._tasks = [asyncio.ensure_future(self._read()), asyncio.ensure_future(self._write())]

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, str):
                    self.worker.on_message(self, message.encode())
                else:
                    self.worker.on_malformed(self)
        except Exception:  # a dropped connection ends this client only
            pass
        self.closed()

    async def _write(self) -> None:
        with contextlib.suppress(Exception):  # closed: the reader reports it
            while True:
                await self.ws.send(await self._outbox.get())

    def write(self, data: bytes) -> None:
        self._outbox.put_nowait(data.decode())

    def hang_up(self) -> None:
        if self.ws is not None:
            self._tasks[1].cancel()
            self._tasks.append(asyncio.ensure_future(self.ws.close()))


class Worker:
    """Runs one worker's clients through the phases and keeps the books."""

    def __init__(self, plan: WorkerPlan, conn: Connection) -> None:
        self.plan = plan
        self.conn = conn
        self.result = WorkerResult(worker=plan.worker, clients=len(plan.clients))
        self.padding = "x" * plan.message_bytes
        self.clients: list[ChatClient] = []
        self.latencies_us = array("q")
        self._reported_latencies = 0
        # (receiver, sender) -> bitmap of measured sequence numbers seen, and the highest.
        self.seen: dict[tuple[int, int], bytearray] = {}
        self.highest: dict[tuple[int, int], int] = {}
        self.received = 0
        self.last_arrival_ns = 0
        self.window = (0, 0)  # measured phase, monotonic ns
        self.sending_until_ns = 0
        self.stop = asyncio.Event()

    # --- receiving -------------------------------------------------------------------

    def on_message(self, client: ChatClient, data: bytes) -> None:
        now = time.monotonic_ns()
        self.received += 1
        self.last_arrival_ns = now
        start, end = self.window
        if start <= now < end:
            self.result.received_in_window += 1
        try:
            sender_s, seq_s, sent_s, phase, _ = json.loads(data)["message"].split("|", 4)
            sender, seq, sent_ns = int(sender_s), int(seq_s), int(sent_s)
        except (ValueError, KeyError, TypeError, AttributeError):
            self.on_malformed(client)
            return
        if phase == MEASURED:
            self._account(client, sender, seq, now - sent_ns)
        if sender == client.index and self.plan.mode == "closed" and seq == client.seq - 1:
            self._send_next(client, now)

    def _account(self, client: ChatClient, sender: int, seq: int, latency_ns: int) -> None:
        key = (client.index, sender)
        bitmap = self.seen.get(key)
        if bitmap is None:
            bitmap = self.seen[key] = bytearray(64)
            self.highest[key] = -1
        byte, bit = seq >> 3, 1 << (seq & 7)
        if byte >= len(bitmap):
            bitmap.extend(bytes(max(len(bitmap), byte + 1 - len(bitmap))))
        if bitmap[byte] & bit:
            self.result.duplicated += 1
            return
        bitmap[byte] |= bit
        self.result.delivered += 1
        self.result.rooms[client.room][2] += 1
        self.latencies_us.append(max(1, latency_ns // 1000))
        if seq < self.highest[key]:
            self.result.out_of_order += 1
        else:
            self.highest[key] = seq

    def on_malformed(self, client: ChatClient) -> None:
        """A frame we cannot read drops this client only; the rest go on."""
        self.result.malformed += 1
        client.alive = False  # we hang up, so it is not counted as the server's disconnect
        client.hang_up()

    def on_disconnected(self, client: ChatClient) -> None:
        if not self.stop.is_set():
            self.result.disconnected += 1

    # --- sending ---------------------------------------------------------------------

    def _phase(self, now_ns: int) -> str | None:
        start, end = self.window
        if now_ns >= end:
            return None
        return MEASURED if now_ns >= start else WARMUP

    def _send_next(self, client: ChatClient, intended_ns: int) -> None:
        phase = self._phase(intended_ns)
        if phase is None or not client.alive:
            return
        client.send(intended_ns, phase)
        self.result.sent += 1
        if phase == MEASURED:
            self.result.sent_measured += 1
            self.result.rooms[client.room][1] += 1

    async def _closed_loop(self, t0_ns: int) -> None:
        await _sleep_until(t0_ns)
        for client in self.clients:
            self._send_next(client, time.monotonic_ns())
        timeout_ns = int(CLOSED_LOOP_TIMEOUT_S * 1e9)
        while (now := time.monotonic_ns()) < self.window[1] and not self.stop.is_set():
            for client in self.clients:
                if client.alive and now - client.waiting_since_ns > timeout_ns:
                    self.result.closed_loop_timeouts += 1
                    self._send_next(client, now)
            await asyncio.sleep(0.1)

    async def _open_loop_client(self, client: ChatClient, t0_ns: int) -> None:
        plan = self.plan
        period_ns = 1e9 / plan.rate
        rng = random.Random(plan.seed * 1_000_003 + client.index)
        if plan.arrival == "poisson":
            next_ns = t0_ns + rng.expovariate(plan.rate) * 1e9
        else:
            # Spread the senders' phases evenly over one period, across all workers.
            next_ns = t0_ns + period_ns * client.index / plan.total_clients
        end_ns = self.window[1]
        while next_ns < end_ns and client.alive and not self.stop.is_set():
            await _sleep_until(int(next_ns))
            self._send_next(client, int(next_ns))
            next_ns += rng.expovariate(plan.rate) * 1e9 if plan.arrival == "poisson" else period_ns

    # --- phases ----------------------------------------------------------------------

    async def connect_all(self) -> None:
        plan = self.plan
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        interval_s = 1.0 / plan.connect_rate if plan.connect_rate else 0.0
        client_class = DeflateClient if plan.compression else PicowsClient

        async def connect_one(index: int, room: int) -> None:
            client = client_class(self, index, room)
            started = time.perf_counter()
            async with gate:
                try:
                    await asyncio.wait_for(
                        client.open(plan.url_template.format(room=room), plan.origin),
                        CONNECT_TIMEOUT_S + 1,
                    )
                except Exception as exc:  # any failure to connect is counted, not raised
                    name = (
                        f"no handshake within {CONNECT_TIMEOUT_S:g} s"
                        if isinstance(exc, TimeoutError)
                        else type(exc).__name__
                    )
                    self.result.connect_failures += 1
                    self.result.connect_errors[name] = self.result.connect_errors.get(name, 0) + 1
                    return
            self.result.connect_ms.append((time.perf_counter() - started) * 1000)
            self.clients.append(client)

        tasks = []
        for index, room in plan.clients:
            self.result.rooms.setdefault(room, [0, 0, 0])
            tasks.append(asyncio.ensure_future(connect_one(index, room)))
            if interval_s:
                await asyncio.sleep(interval_s)
        await asyncio.gather(*tasks)
        for client in self.clients:
            self.result.rooms[client.room][0] += 1
        self.result.connected = len(self.clients)

    async def run_load(self, t0_ns: int) -> None:
        plan = self.plan
        start_ns = t0_ns + int(plan.warmup_s * 1e9)
        self.window = (start_ns, start_ns + int(plan.duration_s * 1e9))
        load: asyncio.Future[Any]
        if plan.mode == "closed":
            load = asyncio.ensure_future(self._closed_loop(t0_ns))
        else:
            load = asyncio.gather(*(self._open_loop_client(c, t0_ns) for c in self.clients))
        cpu_at_start = None
        reporter = asyncio.ensure_future(self._report_progress())
        stopper = asyncio.ensure_future(self.stop.wait())
        try:
            await _sleep_until(start_ns, self.stop)
            cpu_at_start = _cpu_s()
            await _sleep_until(self.window[1], self.stop)
            self.result.cpu_s = _cpu_s() - cpu_at_start
            self.result.measured_s = min(time.monotonic_ns(), self.window[1]) - start_ns
            self.result.measured_s /= 1e9
            await asyncio.wait([load, stopper], return_when=asyncio.FIRST_COMPLETED)
            await self._drain()
        finally:
            if cpu_at_start is None:
                self.result.measured_s = 0.0
            for task in (load, reporter, stopper):
                task.cancel()
            self.result.interrupted = self.stop.is_set()

    async def _drain(self) -> None:
        started = time.monotonic_ns()
        self.last_arrival_ns = max(self.last_arrival_ns, started)
        quiet_ns, max_ns = int(self.plan.drain_quiet_s * 1e9), int(self.plan.drain_max_s * 1e9)
        while not self.stop.is_set():
            now = time.monotonic_ns()
            if now - self.last_arrival_ns >= quiet_ns or now - started >= max_ns:
                break
            await asyncio.sleep(0.05)
        self.result.drain_s = (time.monotonic_ns() - started) / 1e9

    async def _report_progress(self) -> None:
        expected_ns = time.monotonic_ns()
        while True:
            expected_ns += int(PROGRESS_INTERVAL_S * 1e9)
            await _sleep_until(expected_ns)
            lag_ms = (time.monotonic_ns() - expected_ns) / 1e6
            if self._phase(time.monotonic_ns()) == MEASURED:
                self.result.max_loop_lag_ms = max(self.result.max_loop_lag_ms, lag_ms)
            recent = self.latencies_us[self._reported_latencies :]
            self._reported_latencies = len(self.latencies_us)
            p99_ms = (
                float(np.percentile(np.frombuffer(recent, dtype=np.int64), 99)) / 1000
                if recent
                else None
            )
            self._send(
                (
                    "progress",
                    {
                        "t_ns": time.monotonic_ns(),
                        "sent": self.result.sent,
                        "received": self.received,
                        "p99_ms": p99_ms,
                    },
                )
            )

    def _send(self, message: tuple[str, Any]) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(message)

    def finish(self) -> dict[str, Any]:
        latencies = self.latencies_us
        self.result.latency_histogram = stats.encode_histogram(
            np.frombuffer(latencies, dtype=np.int64) if latencies else np.empty(0, np.int64)
        )
        return asdict(self.result)

    async def close_all(self) -> None:
        self.stop.set()
        for client in self.clients:
            if client.alive:
                client.hang_up()


async def _sleep_until(deadline_ns: int, stop: asyncio.Event | None = None) -> None:
    delay_s = (deadline_ns - time.monotonic_ns()) / 1e9
    if delay_s <= 0:
        return
    if stop is None:
        await asyncio.sleep(delay_s)
    else:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay_s)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _serve(plan: WorkerPlan, conn: Connection) -> None:
    """The worker's protocol with the runner: connect, report, start on command, report."""
    worker = Worker(plan, conn)
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def on_command() -> None:
        try:
            commands.put_nowait(conn.recv())
        except (EOFError, OSError):
            commands.put_nowait(("stop", None))  # the runner is gone: stop too

    loop.add_reader(conn.fileno(), on_command)
    try:
        await worker.connect_all()
        worker._send(
            (
                "connected",
                {
                    "connected": worker.result.connected,
                    "failures": worker.result.connect_failures,
                    "errors": worker.result.connect_errors,
                },
            )
        )
        command, value = await commands.get()
        if command == "start":
            load = asyncio.ensure_future(worker.run_load(int(value)))
            stop = asyncio.ensure_future(commands.get())
            done, _ = await asyncio.wait([load, stop], return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                worker.stop.set()
            await load
            stop.cancel()
    finally:
        loop.remove_reader(conn.fileno())
        await worker.close_all()
    worker._send(("result", worker.finish()))


def worker_main(plan: WorkerPlan, conn: Connection) -> None:
    """Entry point of a worker process."""
    # The runner handles Ctrl-C and tells us to stop; die if it is killed outright.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    raise_open_file_limit()  # one socket per client; the runner checked the hard limit
    runner: Callable[[Coroutine[Any, Any, None]], None]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.run
    try:
        runner(_serve(plan, conn))
    except Exception as exc:  # report, never hang the runner
        with contextlib.suppress(OSError, ValueError):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        os._exit(1)
