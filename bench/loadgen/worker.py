"""One client worker process: its share of the clients through the phases, on command.

Phases: connect (times and failures recorded), warm-up (sent but not recorded), measured,
drain (no more sends; see ``Worker._drain`` for when it ends). The runner starts and stops
them; the plan arrives as ``WorkerPlan.to_json()`` and every message is plain JSON
(``link``), so nothing but data crosses the process boundary.

The garbage collector does not run during the load: a collection stops the event loop,
and every arrival it holds up would be stamped late, inside a measured latency. Once
connected, the worker collects and freezes what it has (``gc.freeze``: connections and
clients are never scanned again), and from the start of the warm-up to the end of the
drain the collector is off (``gc.disable``); reference counting still frees everything
that is not in a cycle, which is nearly all a worker makes per message. It is back on
once the drain is over.
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import psutil

from bench.deploy.processes import die_with_parent, raise_open_file_limit
from bench.loadgen import clock
from bench.loadgen.clients import (
    CONNECT_CONCURRENCY,
    ChatClient,
    DeflateClient,
    PicowsClient,
    connect_all,
)
from bench.loadgen.ledger import DeliveryLedger
from bench.loadgen.link import (
    CONNECT,
    CONNECTED,
    ERROR,
    PROGRESS,
    RESULT,
    START,
    Connected,
    Link,
    RunnerLink,
    WorkerProgress,
)
from bench.loadgen.pacing import ClosedLoop, OpenLoop, Pacer, sleep_until
from bench.loadgen.reconnect import Reconnector
from bench.protocols import UNMATCHED, Frame
from bench.protocols import load as load_protocol
from bench.results.books import WorkerResult
from bench.results.record import Record
from bench.scenario.model import Point

# How often a worker reports its counters to the runner, for the progress line.
PROGRESS_INTERVAL_S = 0.5
# How often the drain looks whether everything owed has arrived, or all went quiet.
DRAIN_POLL_S = 0.05
# Where the worker cannot know what is still owed, the drain ends after a silence this
# many times the p99 latency observed so far (and at least ``drain_quiet_s``).
DRAIN_QUIET_P99S = 4.0


@dataclass
class WorkerPlan(Record):
    """What one worker process does: its clients, where they connect, and the point
    whose load they put on (``point``: the clients in all, mode, rate, arrival, message
    size, phases, drain, permessage-deflate), carried whole rather than copied."""

    worker: int
    # (global client index, room index) for each of this worker's clients.
    clients: list[tuple[int, int]]
    url_template: str  # with {room}
    origin: str
    point: Point
    connect_rate: float = 0.0  # this worker's share, connections per second (0: no limit)
    # This worker's share of the handshakes in flight at once (0: CONNECT_CONCURRENCY).
    connect_concurrency: int = 0
    seed: int = 0
    # Every room of this worker has all its clients here (the pool placed whole rooms per
    # worker), so that its books know every delivery still owed during the drain. Implied
    # when the worker has every client of the run.
    whole_rooms: bool = False
    # On a cluster (``bench.loadgen.cluster``): this worker's host number, each client's
    # host by global index, and each host's clock minus the coordinator's, in ns. Latency
    # is timed on one clock where sender and receiver share a host; across hosts it is
    # corrected by the two offsets and kept apart. Empty: every client on this host.
    host: int = 0
    sender_hosts: list[int] = field(default_factory=list)
    clock_offsets_ns: list[int] = field(default_factory=list)
    # Where the point's protocol module is looked for first (``protocol.import_paths``:
    # the scenario's folder and the runner's current one), as the runner looked.
    protocol_paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # JSON has no tuples: a plan read back gives [index, room] lists.
        self.clients = [(int(index), int(room)) for index, room in self.clients]


class Worker:
    """Runs one worker's clients through the phases; the ledger keeps the books."""

    def __init__(self, plan: WorkerPlan, link: Link) -> None:
        self.plan = plan
        self.link = link
        self.protocol = load_protocol(plan.point.protocol, plan.protocol_paths)
        # The books' room of a client: its room, or itself alone where each message is
        # owed to its sender only (a room of one is the sender's books exactly).
        self.per_client = self.protocol.recipients == "sender"
        self.ledger = DeliveryLedger(self.protocol)
        if plan.sender_hosts:
            self.ledger.place(plan.host, plan.sender_hosts, plan.clock_offsets_ns)
        self.result = WorkerResult(
            worker=plan.worker,
            clients=len(plan.clients),
            counts=self.ledger.counts,
            rooms=self.ledger.rooms,
        )
        load = plan.point
        self.padding = "x" * load.message_bytes
        self.client_class = DeflateClient if load.compression else PicowsClient
        self.clients: list[ChatClient] = []
        self.stop = asyncio.Event()
        self.recent_p99_ms: float | None = None  # the progress line's, for reconnects
        self.pacer: Pacer = (
            ClosedLoop(self._send_next, self.stop)
            if load.mode == "closed"
            else OpenLoop(
                self._send_next,
                self.stop,
                rate=load.rate,
                arrival=load.arrival,
                seed=plan.seed,
                total_clients=load.clients,
            )
        )

    # --- what the clients report (the Listener protocol) -----------------------------

    def on_message(self, client: ChatClient, frame: Frame) -> None:
        if not client.alive:  # dropped: it left the books when it left the room
            return
        now = clock.now_ns()
        token = self.ledger.receive(client.index, client.book, frame, now)
        if token is None:
            self._drop(client)
        elif token is not UNMATCHED:
            self.pacer.on_echo(client, token, now)

    def on_malformed(self, client: ChatClient) -> None:
        self.ledger.reject()
        self._drop(client)

    def on_disconnected(self, client: ChatClient) -> None:
        if not self.stop.is_set():
            self.ledger.counts.disconnected += 1
            self.ledger.leave(client.book, clock.now_ns())

    def _drop(self, client: ChatClient) -> None:
        """A frame we cannot read drops this client only; the rest go on."""
        if client.alive and not self.stop.is_set():
            self.ledger.leave(client.book, clock.now_ns())
        client.alive = False  # we hang up, so it is not counted as the server's disconnect
        client.hang_up()

    def _send_next(self, client: ChatClient, intended_ns: int) -> None:
        phase = self.ledger.phase(intended_ns)
        if phase is None or not client.alive or client.away:
            return
        if self.plan.point.messages and client.seq >= self.plan.point.messages:
            return  # its share sent (a churn cycle's messages)
        sent_ns = clock.now_ns()
        client.send(intended_ns, phase)
        # Lateness only where a schedule sets the intended time (open loop); in closed loop
        # the intended time is the moment the echo arrived, and this is that moment.
        lateness_from = sent_ns if self.pacer.scheduled else None
        self.ledger.record_send(client.book, phase, intended_ns, lateness_from)

    # --- phases ----------------------------------------------------------------------

    async def connect_all(self) -> None:
        plan = self.plan
        for index, room in plan.clients:
            self.ledger.open_room(self._book(index, room))
        self.clients = await connect_all(
            self._new_client,
            plan.clients,
            plan.url_template,
            plan.origin,
            plan.connect_rate,
            self.result.connect_ms,
            self.result.connect_errors,
            plan.connect_concurrency or CONNECT_CONCURRENCY,
        )
        for client in self.clients:
            self.ledger.join(client.book)
            for frame in self.protocol.hello(client.index, client.room):
                client.write(frame)
        counts = self.ledger.counts
        counts.connected = len(self.clients)
        counts.connect_failures = sum(self.result.connect_errors.values())
        counts.compressed = sum(client.compressed for client in self.clients)
        # What connecting made is kept for the run: collect it now, then never scan it.
        gc.collect()
        gc.freeze()

    def _book(self, index: int, room: int) -> int:
        return index if self.per_client else room

    def _new_client(self, index: int, room: int) -> ChatClient:
        client = self.client_class(self, index, room, self.padding, self.protocol)
        client.book = self._book(index, room)
        return client

    async def run_load(self, t0_ns: int) -> None:
        start_ns = t0_ns + int(self.plan.point.warmup_s * 1e9)
        end_ns = start_ns + int(self.plan.point.duration_s * 1e9)
        self.ledger.window = (start_ns, end_ns)
        load = asyncio.ensure_future(self.pacer.run(self.clients, t0_ns, end_ns))
        churn = asyncio.ensure_future(self._reconnector().run(t0_ns, end_ns))
        cpu_at_start = None
        machine_at_start = psutil.cpu_times()
        reporter = asyncio.ensure_future(self._report_progress())
        stopper = asyncio.ensure_future(self.stop.wait())
        gc.disable()  # no collection pauses inside measured latencies (module docstring)
        try:
            await sleep_until(start_ns, self.stop)
            cpu_at_start = _cpu_s()
            machine_at_start = psutil.cpu_times()
            await sleep_until(end_ns, self.stop)
            self.result.cpu_s = _cpu_s() - cpu_at_start
            self.result.machine_cpu_percent = _busy_percent(machine_at_start, psutil.cpu_times())
            self.result.measured_s = (min(clock.now_ns(), end_ns) - start_ns) / 1e9
            await asyncio.wait([load, stopper], return_when=asyncio.FIRST_COMPLETED)
            await self._drain()
        finally:
            gc.enable()
            if cpu_at_start is None:
                self.result.measured_s = 0.0
            for task in (load, churn, reporter, stopper):
                task.cancel()
            self.result.interrupted = self.stop.is_set()

    def _reconnector(self) -> Reconnector:
        """This worker's share of ``reconnect_per_s`` (none without it)."""
        plan, load = self.plan, self.plan.point
        return Reconnector(
            self.clients,
            self.ledger,
            self._new_client,
            self.protocol,
            self.result,
            self.stop,
            plan.url_template,
            plan.origin,
            per_s=load.reconnect_per_s * len(plan.clients) / load.clients,
            linger_s=self._linger_s,
            seed=plan.seed * 7919 + plan.worker,
        )

    def _linger_s(self) -> float:
        """How long a leaving client waits for what is in flight to it: the drain's
        silence (``DRAIN_QUIET_P99S`` recent p99s, at least ``drain_quiet_s``), at most
        ``drain_max_s``; the recent p99, as the progress line reads it (cheap: a whole
        soak's latencies are not sorted per reconnect)."""
        load = self.plan.point
        p99_s = (self.recent_p99_ms or 0.0) / 1000
        return min(load.drain_max_s, max(load.drain_quiet_s, DRAIN_QUIET_P99S * p99_s))

    async def _drain(self) -> None:
        """Wait for what is still in flight once the sends stopped, until the first of:

        - every delivery owed has arrived, where the books can know it: when every room
          of this worker has all its members and senders here;
        - elsewhere, nothing arrived for ``DRAIN_QUIET_P99S`` times the p99 latency seen
          so far, and at least ``drain_quiet_s`` (a silence says little about a server
          that may be paused: a pause of a few p99s is not taken for loss);
        - ``drain_max_s``.

        Where the books know what is owed, silence does not end the drain: a server
        paused past the window's end is latency, not loss; a message truly lost costs the
        wait until ``drain_max_s``."""
        plan, ledger = self.plan, self.ledger
        started = clock.now_ns()
        max_ns = int(plan.point.drain_max_s * 1e9)
        owed = ledger.expected() if self._whole_rooms() else None
        quiet_ns = self._quiet_ns()
        while not self.stop.is_set():
            now = clock.now_ns()
            if now - started >= max_ns:
                break
            if owed is not None:
                if ledger.counts.delivered >= owed:
                    break
            elif now - max(ledger.last_arrival_ns, started) >= quiet_ns:
                longer = self._quiet_ns()  # with the latencies that arrived meanwhile
                if longer <= quiet_ns:
                    break
                quiet_ns = longer
            await asyncio.sleep(DRAIN_POLL_S)
        self.result.drain_s = (clock.now_ns() - started) / 1e9

    def _quiet_ns(self) -> int:
        p99_ms = self.ledger.p99_ms() or 0.0
        return int(max(self.plan.point.drain_quiet_s * 1e9, DRAIN_QUIET_P99S * p99_ms * 1e6))

    async def _report_progress(self) -> None:
        next_ns = clock.now_ns()
        while True:
            next_ns += int(PROGRESS_INTERVAL_S * 1e9)
            await asyncio.sleep(max(0.0, (next_ns - clock.now_ns()) / 1e9))
            p99_ms = self.ledger.recent_p99_ms()
            self.recent_p99_ms = p99_ms if p99_ms is not None else self.recent_p99_ms
            progress = WorkerProgress(
                t_ns=clock.now_ns(),
                sent=self.ledger.counts.sent,
                received=self.ledger.deliveries,
                p99_ms=p99_ms,
                reconnects=self.ledger.counts.reconnects,
            )
            self.link.send(PROGRESS, progress)

    def finish(self) -> WorkerResult:
        self.result.counts.closed_loop_timeouts = self.pacer.timeouts
        self.result.latency_histogram = self.ledger.histogram()
        self.result.cross_host_histogram = self.ledger.cross_host_histogram()
        self.result.lateness_histogram = self.ledger.lateness_histogram()
        self.ledger.close_books(every_room=not self._whole_rooms())
        return self.result

    def _whole_rooms(self) -> bool:
        """Whether every room of this worker's books has all its clients here (always,
        where each client is a room of its own in the books)."""
        plan = self.plan
        return self.per_client or plan.whole_rooms or len(plan.clients) == plan.point.clients

    async def close_all(self) -> None:
        self.stop.set()
        for client in self.clients:
            if client.alive:
                client.hang_up()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _busy_percent(before: Any, after: Any) -> float | None:
    """How busy this machine's cores were between two ``psutil.cpu_times()`` (100: all),
    so that a remote host's saturation is known without a monitor there."""
    total = sum(after) - sum(before)
    idle = (after.idle + after.iowait) - (before.idle + before.iowait)
    return round(100 * (1 - idle / total), 1) if total > 0 else None


async def _serve(plan: WorkerPlan, link: Link) -> None:
    """The worker's side of the conversation: connect on command (the process starts while
    the server does), report, start on command, report."""
    worker = Worker(plan, link)
    link.listen()
    try:
        command, _ = await link.command()
        if command != CONNECT:
            return
        await worker.connect_all()
        counts = worker.result.counts
        link.send(
            CONNECTED,
            Connected(
                counts.connected,
                counts.connect_failures,
                worker.result.connect_errors,
                worker.result.connect_ms,
            ),
        )
        command, value = await link.command()
        if command == START:
            load = asyncio.ensure_future(worker.run_load(int(value)))
            stop = asyncio.ensure_future(link.command())
            done, _ = await asyncio.wait([load, stop], return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                worker.stop.set()
            await load
            stop.cancel()
            if stop in done:
                stop.result()  # a garbled command is an error, not a stop
    finally:
        link.close()
        await worker.close_all()
    link.send(RESULT, worker.finish())


def run_worker(plan_json: dict[str, Any], link: Link) -> bool:
    """Run one worker's conversation over ``link`` to its end, wherever it runs (a local
    process, a Dask task); False when it failed, after the error was sent."""
    runner: Callable[[Coroutine[Any, Any, None]], None]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.run
    try:
        runner(_serve(WorkerPlan.from_json(plan_json), link))
        return True
    except Exception as exc:  # report, never hang the runner
        link.send(ERROR, " ".join(f"{type(exc).__name__}: {exc}".split()))
        return False
    finally:
        link.flush()


def worker_main(plan_json: dict[str, Any], conn: Connection) -> None:
    """Entry point of a worker process: ``plan_json`` is ``WorkerPlan.to_json()``."""
    # The runner handles Ctrl-C and tells us to stop; die if it is killed outright.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    raise_open_file_limit()  # one socket per client; the runner checked the hard limit
    if not run_worker(plan_json, RunnerLink(conn)):
        os._exit(1)
