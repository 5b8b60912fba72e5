"""Soak: one steady load in one server for minutes to hours, the churn counters read
every ``sample_s`` while it runs, and a verdict per counter over the samples.

The clients run as in any repeat (``loadgen.pool``: connect, warm-up, measured window,
drain, the usual books), with ``reconnect_per_s`` clients leaving and coming back if the
point says so (each reconnect a new connection to the server). A sampler thread reads
the counters (``churn.read_counters``: the server's tree from /proc, the site's probe,
the run's Redis) at ``t0 + k * sample_s``; the samples are a ``Churn`` record of kind
``soak``, judged by ``bench.judge.leaks`` against the sample index as churn's cycles are.

The probe is read during the load (a soak has no quiet moment between cycles), at every
``probe_every``-th sample (0: never): it collects the server's garbage and counts every
object, a pause of the server's event loop that it reports (``probe_pause_ms``; measured
at 150 to 200 ms in a small Daphne on a busy 2-core machine, enough to quadruple a p99:
docs/leaks.md). Each sample also records how long each source took to read
(``Cycle.read_ms``). /proc and Redis are read from outside and pause nothing.

Ctrl-C stops the clients, keeps their books and the samples read so far, judged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from bench.errors import PointFailed
from bench.loadgen import WorkerPlan
from bench.loadgen.link import CONNECT, CONNECTED, RESULT, START, STOP, Connected, WorkerProgress
from bench.loadgen.pool import (
    START_DELAY_S,
    Placement,
    Pool,
    connect_budget_s,
    open_pool,
    result_budget_s,
)
from bench.results.books import WorkerResult
from bench.results.churn import Churn, Cycle
from bench.results.model import Repeat
from bench.run.churn import Where, judge, read_counters
from bench.run.flags import client_warnings
from bench.run.progress import Heartbeat
from bench.scenario import Point

# After a Ctrl-C, how long the clients may take to stop and send their books.
STOP_BUDGET_S = 15.0


@dataclass
class Sampler:
    """Reads the counters every ``sample_s`` from ``t0_ns`` until the load's end, in a
    thread of its own; the workers' running totals come from their progress reports."""

    point: Point
    where: Where
    churn: Churn
    beat: Heartbeat
    # As each sample's counters are read: a memory profile's edges, as churn's cycles.
    mark: Callable[[str], None] = lambda name: None
    progress: dict[int, WorkerProgress] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, t0_ns: int) -> None:
        self._thread = threading.Thread(target=self._run, args=(t0_ns,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def samples(self) -> int:
        """How many samples the load's length holds."""
        return int((self.point.warmup_s + self.point.duration_s) / self.point.sample_s + 1e-9)

    def _run(self, t0_ns: int) -> None:
        total = self.samples()
        for k in range(1, total + 1):
            due_ns = t0_ns + int(k * self.point.sample_s * 1e9)
            if self._stop.wait(max(0.0, (due_ns - time.monotonic_ns()) / 1e9)):
                return
            self.beat.doing = f"soak sample {k} of {total}"
            read_ms: dict[str, float] = {}
            every = self.point.probe_every
            probe = self.where.probe_url if every and k % every == 0 else None
            counters = read_counters(replace(self.where, probe_url=probe), read_ms)
            reports = list(self.progress.values())
            self.churn.cycles.append(
                Cycle(
                    index=k - 1,
                    sent=sum(p.sent for p in reports),
                    delivered=sum(p.received for p in reports),
                    reconnects=sum(p.reconnects for p in reports),
                    t_s=round((time.monotonic_ns() - t0_ns) / 1e9, 3),
                    read_ms=read_ms,
                    counters=counters,
                )
            )
            self.mark("cycle")


def connections_per_sample(point: Point, churn: Churn) -> tuple[float, str]:
    """What a verdict's slope per sample is divided by, and its name: the reconnects of
    a judged sample (each a new connection), or the clients held where none reconnect."""
    judged = churn.cycles[max(0, point.warmup_cycles - 1) :]
    if point.reconnect_per_s and len(judged) > 1:
        made = (judged[-1].reconnects - judged[0].reconnects) / (len(judged) - 1)
        if made > 0:
            return made, "reconnect"
    return float(point.clients), "connection held, per sample"


def measure_soak(
    point: Point,
    repeat: int,
    plans: list[WorkerPlan],
    where: Where,
    beat: Heartbeat,
    check: Callable[[], None],
    placement: Placement | None = None,
    mark: Callable[[str], None] = lambda name: None,
) -> Repeat:
    """One soak against a running server: the load's books as a repeat's, its samples
    and their verdicts in ``churn``. Ctrl-C ends it early, judged so far and marked
    interrupted; a server that dies fails it, keeping the samples before."""
    churn = Churn(
        kind="soak",
        clients=point.clients,
        warmup_cycles=point.warmup_cycles,
        sample_s=point.sample_s,
        settle_reason="read during the load, every sample_s",
        unavailable=where.unavailable,
    )
    sampler = Sampler(point, where, churn, beat, mark)
    results: list[WorkerResult] = []
    interrupted = False
    failure: str | None = None

    def on_progress(worker: int, value: WorkerProgress) -> None:
        sampler.progress[worker] = value

    with open_pool(plans, placement) as pool:
        try:
            beat.doing = f"connecting {point.clients} clients"
            pool.broadcast(CONNECT)
            budget = connect_budget_s(point, point.clients)
            connected = Connected.total(pool.gather(CONNECTED, budget, check=check))
            if not connected.connected:
                raise PointFailed(f"no client could connect: {connected.why()}")
            t0_ns = time.monotonic_ns() + int(START_DELAY_S * 1e9)
            pool.broadcast(START, t0_ns)
            sampler.start(t0_ns)
            raw = pool.gather(RESULT, result_budget_s(point), on_progress, check)
            results = [WorkerResult.from_json(r) for r in raw]
        except KeyboardInterrupt:
            interrupted = True
            sampler.stop()
            results = _stop_clients(pool)
        except PointFailed as exc:
            failure = str(exc)
        finally:
            sampler.stop()
    if results:
        record = Repeat.from_workers(
            repeat, results, clients=point.clients, duration_s=point.duration_s
        )
        record.warnings = client_warnings(record)
    else:
        record = Repeat(repeat=repeat)
    record.status, record.reason = ("failed", failure) if failure else ("ok", None)
    record.interrupted = record.interrupted or interrupted
    per, churn.per = connections_per_sample(point, churn)
    churn.connections_per_sample = round(per, 3)
    judge(churn, where, point.warmup_cycles, per)
    record.churn = churn
    return record


def _stop_clients(pool: Pool) -> list[WorkerResult]:
    """After a Ctrl-C: tell the clients to stop and take their books, if they come."""
    pool.broadcast(STOP)
    try:
        return [WorkerResult.from_json(r) for r in pool.gather(RESULT, STOP_BUDGET_S)]
    except (PointFailed, KeyboardInterrupt):
        return []
