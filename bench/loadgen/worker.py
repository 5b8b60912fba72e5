"""One client worker process: its share of the clients through the phases, on command.

Phases: connect (times and failures recorded), warm-up (sent but not recorded), measured,
drain (no more sends; ends when nothing has arrived for ``drain_quiet_s``). The runner
starts and stops them; the plan arrives as ``WorkerPlan.to_json()`` and every message is
plain JSON (``link``), so nothing but data crosses the process boundary.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bench.loadgen.clients import ChatClient, DeflateClient, PicowsClient, connect_all
from bench.loadgen.ledger import DeliveryLedger
from bench.loadgen.link import CONNECT, CONNECTED, ERROR, PROGRESS, RESULT, START, RunnerLink
from bench.loadgen.pacing import ClosedLoop, OpenLoop, Pacer, sleep_until
from bench.loadgen.protocol import MEASURED
from bench.processes import die_with_parent, raise_open_file_limit
from bench.record import Record
from bench.results import WorkerResult

# How often a worker reports its counters to the runner, for the progress line.
PROGRESS_INTERVAL_S = 0.5
# How often the drain looks whether the clients have gone quiet.
DRAIN_POLL_S = 0.05


@dataclass
class WorkerPlan(Record):
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

    def __post_init__(self) -> None:
        # JSON has no tuples: a plan read back gives [index, room] lists.
        self.clients = [(int(index), int(room)) for index, room in self.clients]


class Worker:
    """Runs one worker's clients through the phases; the ledger keeps the books."""

    def __init__(self, plan: WorkerPlan, link: RunnerLink) -> None:
        self.plan = plan
        self.link = link
        self.ledger = DeliveryLedger()
        self.result = WorkerResult(
            worker=plan.worker,
            clients=len(plan.clients),
            counts=self.ledger.counts,
            rooms=self.ledger.rooms,
        )
        self.padding = "x" * plan.message_bytes
        self.client_class = DeflateClient if plan.compression else PicowsClient
        self.clients: list[ChatClient] = []
        self.stop = asyncio.Event()
        self.pacer: Pacer = (
            ClosedLoop(self._send_next, self.stop)
            if plan.mode == "closed"
            else OpenLoop(
                self._send_next,
                self.stop,
                rate=plan.rate,
                arrival=plan.arrival,
                seed=plan.seed,
                total_clients=plan.total_clients,
            )
        )

    # --- what the clients report (the Listener protocol) -----------------------------

    def on_message(self, client: ChatClient, data: bytes) -> None:
        now = time.monotonic_ns()
        token = self.ledger.receive(client.index, client.room, data, now)
        if token is None:
            self._drop(client)
        else:
            self.pacer.on_echo(client, token, now)

    def on_malformed(self, client: ChatClient) -> None:
        self.ledger.reject()
        self._drop(client)

    def on_disconnected(self, client: ChatClient) -> None:
        if not self.stop.is_set():
            self.ledger.counts.disconnected += 1

    def _drop(self, client: ChatClient) -> None:
        """A frame we cannot read drops this client only; the rest go on."""
        client.alive = False  # we hang up, so it is not counted as the server's disconnect
        client.hang_up()

    def _send_next(self, client: ChatClient, intended_ns: int) -> None:
        phase = self.ledger.phase(intended_ns)
        if phase is None or not client.alive:
            return
        client.send(intended_ns, phase)
        self.ledger.record_send(client.room, phase)

    # --- phases ----------------------------------------------------------------------

    async def connect_all(self) -> None:
        plan = self.plan
        for _, room in plan.clients:
            self.ledger.open_room(room)
        self.clients = await connect_all(
            lambda index, room: self.client_class(self, index, room, self.padding),
            plan.clients,
            plan.url_template,
            plan.origin,
            plan.connect_rate,
            self.result.connect_ms,
            self.result.connect_errors,
        )
        for client in self.clients:
            self.ledger.join(client.room)
        counts = self.ledger.counts
        counts.connected = len(self.clients)
        counts.connect_failures = sum(self.result.connect_errors.values())
        counts.compressed = sum(client.compressed for client in self.clients)

    async def run_load(self, t0_ns: int) -> None:
        start_ns = t0_ns + int(self.plan.warmup_s * 1e9)
        end_ns = start_ns + int(self.plan.duration_s * 1e9)
        self.ledger.window = (start_ns, end_ns)
        load = asyncio.ensure_future(self.pacer.run(self.clients, t0_ns, end_ns))
        cpu_at_start = None
        reporter = asyncio.ensure_future(self._report_progress())
        stopper = asyncio.ensure_future(self.stop.wait())
        try:
            await sleep_until(start_ns, self.stop)
            cpu_at_start = _cpu_s()
            await sleep_until(end_ns, self.stop)
            self.result.cpu_s = _cpu_s() - cpu_at_start
            self.result.measured_s = (min(time.monotonic_ns(), end_ns) - start_ns) / 1e9
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
        quiet_ns, max_ns = int(self.plan.drain_quiet_s * 1e9), int(self.plan.drain_max_s * 1e9)
        while not self.stop.is_set():
            now = time.monotonic_ns()
            last_arrival_ns = max(self.ledger.last_arrival_ns, started)
            if now - last_arrival_ns >= quiet_ns or now - started >= max_ns:
                break
            await asyncio.sleep(DRAIN_POLL_S)
        self.result.drain_s = (time.monotonic_ns() - started) / 1e9

    async def _report_progress(self) -> None:
        expected_ns = time.monotonic_ns()
        while True:
            expected_ns += int(PROGRESS_INTERVAL_S * 1e9)
            await sleep_until(expected_ns)
            lag_ms = (time.monotonic_ns() - expected_ns) / 1e6
            if self.ledger.phase(time.monotonic_ns()) == MEASURED:
                self.result.max_loop_lag_ms = max(self.result.max_loop_lag_ms, lag_ms)
            progress = {
                "t_ns": time.monotonic_ns(),
                "sent": self.ledger.counts.sent,
                "received": self.ledger.received,
                "p99_ms": self.ledger.recent_p99_ms(),
            }
            self.link.send(PROGRESS, progress)

    def finish(self) -> WorkerResult:
        self.result.counts.closed_loop_timeouts = self.pacer.timeouts
        self.result.latency_histogram = self.ledger.histogram()
        return self.result

    async def close_all(self) -> None:
        self.stop.set()
        for client in self.clients:
            if client.alive:
                client.hang_up()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _serve(plan: WorkerPlan, link: RunnerLink) -> None:
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
            {
                "connected": counts.connected,
                "failures": counts.connect_failures,
                "errors": worker.result.connect_errors,
            },
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
    link.send(RESULT, worker.finish().to_json())


def worker_main(plan_json: dict[str, Any], conn: Connection) -> None:
    """Entry point of a worker process: ``plan_json`` is ``WorkerPlan.to_json()``."""
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
    link = RunnerLink(conn)
    try:
        runner(_serve(WorkerPlan.from_json(plan_json), link))
    except Exception as exc:  # report, never hang the runner
        link.send(ERROR, " ".join(f"{type(exc).__name__}: {exc}".split()))
        os._exit(1)
