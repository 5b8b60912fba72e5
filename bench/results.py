"""The result model: what a run measured, typed, with one way in and out of JSON.

A run holds points; a point holds repeats; a repeat is merged from its client workers'
results. Every record is a dataclass with the same ``to_json`` / ``from_json`` pair
(``bench.record``), so the shape of a result file is written down once, here. Counters are
declared once (``Counts``) and merged by one function.

Schema history (``SCHEMA_VERSION``), as pyperf keeps it:
  1 - first version: environment, scenario, calibration, points with raw repeats. The
      per-thread CPU fields of a repeat's ``server`` (``per_thread``, ``busiest_thread``,
      ``event_loop_cpu_percent``, ``other_threads_cpu_percent``) came in later without a
      version bump: a version 1 file may lack them.
  2 - the point's params separate what runs (``consumer``: sync or async), what it does
      (``workload``: chat) and where it runs (``server``: daphne); the fault-injecting
      routes moved from ``consumer`` to ``fault``. A point records the software its server
      ran (``software``: read from the server's own interpreter). A repeat's ``server``
      sums the whole process tree and lists each process (``processes``); ``services``
      holds the same for Redis. ``update_to_2`` reads version 1 files.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from bench import stats
from bench.record import Record

SCHEMA_VERSION = 2

# --- What one client worker process measured --------------------------------------------


@dataclass
class Counts(Record):
    """The counters every client keeps, summed across workers by ``Counts.total``."""

    connected: int = 0
    compressed: int = 0  # clients whose server accepted permessage-deflate
    connect_failures: int = 0
    sent: int = 0
    sent_measured: int = 0
    delivered: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    malformed: int = 0
    disconnected: int = 0
    closed_loop_timeouts: int = 0
    received_in_window: int = 0

    @classmethod
    def total(cls, many: Iterable[Counts]) -> Counts:
        out = cls()
        for counts in many:
            for f in fields(cls):
                setattr(out, f.name, getattr(out, f.name) + getattr(counts, f.name))
        return out


@dataclass
class RoomTally(Record):
    """One room as one worker saw it: its members there, their measured sends, and the
    deliveries those members accounted."""

    members: int = 0
    sent: int = 0
    delivered: int = 0


@dataclass
class WorkerResult(Record):
    """One worker process's raw books; plain JSON, so a worker could run anywhere."""

    worker: int
    clients: int
    counts: Counts = field(default_factory=Counts)
    connect_errors: dict[str, int] = field(default_factory=dict)
    connect_ms: list[float] = field(default_factory=list)
    rooms: dict[int, RoomTally] = field(default_factory=dict)
    latency_histogram: str = ""
    cpu_s: float = 0.0
    measured_s: float = 0.0
    max_loop_lag_ms: float = 0.0
    drain_s: float = 0.0
    interrupted: bool = False


# --- One repeat of a point ----------------------------------------------------------------


@dataclass
class RepeatCounts(Counts):
    """A repeat's counters, with what its rooms expected and what did not arrive."""

    clients: int = 0
    rooms: int = 0
    expected: int = 0
    lost: int = 0


@dataclass
class Throughput(Record):
    sent_per_s: float = 0.0
    delivered_per_s: float = 0.0
    measured_s: float = 0.0


@dataclass
class ClientSummary(Record):
    """The load generator during the repeat: is it, rather than the server, the limit?"""

    processes: int = 0
    cpu_percent: list[float] = field(default_factory=list)
    max_loop_lag_ms: float = 0.0
    drain_s: float = 0.0


@dataclass
class ProcessSummary(Record):
    """One watched process over the measured window."""

    pid: int
    role: str  # "server", "worker", "redis", ...
    name: str = ""
    threads_max: int | None = None
    cpu_percent: float | None = None
    rss_peak_bytes: int | None = None


@dataclass
class MonitorSummary(Record):
    """Threads, CPU and memory of a set of processes (a server's tree, or Redis) over the
    measured window: sums across the processes, each process, and the series over time.

    ``pid`` is the process the set was found from (the server's main process)."""

    pid: int | None = None
    samples: int = 0
    threads_min: int | None = None
    threads_mean: float | None = None
    threads_max: int | None = None
    cpu_mean_percent: float | None = None
    rss_peak_bytes: int | None = None
    busiest_thread: dict[str, Any] | None = None
    event_loop_cpu_percent: float | None = None
    other_threads_cpu_percent: float | None = None
    per_thread: list[dict[str, Any]] = field(default_factory=list)
    processes: list[ProcessSummary] = field(default_factory=list)
    window_s: list[float | None] = field(default_factory=list)
    series: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Repeat(Record):
    """One measurement of a point, against a fresh server; ``failed`` carries the reason."""

    repeat: int
    status: str = "ok"
    reason: str | None = None
    started_at: float | None = None
    server_log: str | None = None
    ready_s: float | None = None
    counts: RepeatCounts | None = None
    loss_ratio: float | None = None
    throughput: Throughput | None = None
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    latency_histogram: str = ""
    connect_ms: dict[str, float | None] = field(default_factory=dict)
    connect_errors: dict[str, int] = field(default_factory=dict)
    clients: ClientSummary | None = None
    interrupted: bool = False
    compression_offered: bool = False
    delivery_series: dict[str, list[float]] = field(default_factory=dict)
    server: MonitorSummary | None = None
    services: dict[str, MonitorSummary] = field(default_factory=dict)
    ceiling_fraction: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def failed(cls, repeat: int, reason: str) -> Repeat:
        return cls(repeat=repeat, status="failed", reason=reason)

    @classmethod
    def from_workers(
        cls,
        repeat: int,
        results: Sequence[WorkerResult],
        *,
        clients: int,
        duration_s: float,
        compression: bool = False,
    ) -> Repeat:
        """Counts, throughput and latency of one repeat from its workers' raw results."""
        rooms: dict[int, RoomTally] = {}
        for res in results:
            for room, tally in res.rooms.items():
                acc = rooms.setdefault(room, RoomTally())
                acc.members += tally.members
                acc.sent += tally.sent
                acc.delivered += tally.delivered
        total = Counts.total(r.counts for r in results)
        expected = sum(t.members * t.sent for t in rooms.values())
        counts = RepeatCounts(
            **dataclasses.asdict(total),
            clients=clients,
            rooms=len(rooms),
            expected=expected,
            lost=max(0, expected - total.delivered),
        )
        measured_s = max((r.measured_s for r in results), default=0.0) or duration_s
        hist = stats.merge_histograms(r.latency_histogram for r in results)
        connect_ms = [ms for r in results for ms in r.connect_ms]
        connect_errors: dict[str, int] = {}
        for r in results:
            for name, count in r.connect_errors.items():
                connect_errors[name] = connect_errors.get(name, 0) + count
        return cls(
            repeat=repeat,
            counts=counts,
            loss_ratio=(counts.lost / expected) if expected else 0.0,
            throughput=Throughput(
                sent_per_s=total.sent_measured / measured_s,
                delivered_per_s=total.received_in_window / measured_s,
                measured_s=measured_s,
            ),
            latency_ms=stats.latency_summary_ms(hist),
            latency_histogram=hist.encode().decode("ascii"),
            connect_ms={**stats.percentiles(connect_ms), "max": max(connect_ms, default=None)},
            connect_errors=connect_errors,
            clients=ClientSummary(
                processes=len(results),
                cpu_percent=[
                    round(100 * r.cpu_s / (r.measured_s or measured_s), 1) for r in results
                ],
                max_loop_lag_ms=max((r.max_loop_lag_ms for r in results), default=0.0),
                drain_s=max((r.drain_s for r in results), default=0.0),
            ),
            interrupted=any(r.interrupted for r in results),
            compression_offered=compression,
        )


# --- Metrics: what is read from each repeat, and which way is better ---------------------


@dataclass(frozen=True)
class Metric:
    name: str
    path: tuple[str, ...]
    higher_is_better: bool


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("delivered_per_s", ("throughput", "delivered_per_s"), True),
        Metric("sent_per_s", ("throughput", "sent_per_s"), True),
        Metric("p50_ms", ("latency_ms", "p50"), False),
        Metric("p99_ms", ("latency_ms", "p99"), False),
        Metric("p99_9_ms", ("latency_ms", "p99_9"), False),
        Metric("threads", ("server", "threads_max"), False),
        Metric("cpu_percent", ("server", "cpu_mean_percent"), False),
        Metric("loop_cpu_percent", ("server", "event_loop_cpu_percent"), False),
        Metric("other_threads_cpu_percent", ("server", "other_threads_cpu_percent"), False),
        Metric("loss_ratio", ("loss_ratio",), False),
        Metric("rss_peak_bytes", ("server", "rss_peak_bytes"), False),
    )
}


def _walk(value: Any, path: Sequence[str]) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
    return value


# --- A point, and the run --------------------------------------------------------------


@dataclass
class PointResult(Record):
    """One configuration of the scenario's matrix and its repeats."""

    id: str = ""
    label: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    repeats: list[Repeat] = field(default_factory=list)
    # The software the point's server ran, read from its own interpreter.
    software: dict[str, Any] | None = None
    # A saturation search step: whether it held the bounds, and why not.
    search: dict[str, Any] | None = None

    def ok_repeats(self) -> list[Repeat]:
        return [r for r in self.repeats if r.ok]

    def values(self, metric: str) -> list[float]:
        """The values of ``metric`` over the successful repeats."""
        path = METRICS[metric].path
        out = []
        for rep in self.ok_repeats():
            value = _walk(rep, path)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if numeric and math.isfinite(value):
                out.append(float(value))
        return out

    def median(self, metric: str) -> float | None:
        return stats.median(self.values(metric))

    def medians(self) -> dict[str, float | None]:
        return {metric: self.median(metric) for metric in METRICS}


@dataclass
class Calibration(Record):
    """The load generator's ceiling: the same clients against the reference server."""

    server: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    deliveries_per_s: float | None = None
    sent_per_s: float | None = None
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    client_cpu_percent: list[float] = field(default_factory=list)
    server_cpu_mean_percent: float | None = None
    error: str | None = None


@dataclass
class Run(Record):
    """A whole result file."""

    schema_version: int = SCHEMA_VERSION
    tool: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    scenario: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    partial: bool = True
    calibration: Calibration | None = None
    points: list[PointResult] = field(default_factory=list)
    saturation: dict[str, Any] | None = None
    command: str | None = None
    finished_at: float | None = None
    error: str | None = None

    @property
    def varying(self) -> list[str]:
        return varying_keys([p.params for p in self.points])


# Keys that never tell points apart in a table or a chart: repeats is how often, not what.
NOT_VARYING = ("repeats",)


def varying_keys(params: Sequence[Mapping[str, Any]], exclude: Sequence[str] = ()) -> list[str]:
    """The params whose values differ between points, in first-seen order.

    The one answer to "what varies?" for tables, charts and comparisons."""
    keys = list(dict.fromkeys(k for p in params for k in p))
    return [
        k
        for k in keys
        if k not in NOT_VARYING and k not in exclude and len({repr(p.get(k)) for p in params}) > 1
    ]


# --- Reading older files ------------------------------------------------------------------

FAULTS = ("stall", "slow")


def update_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 result as version 2 (asv's ``update_to_N``): new keys at the values
    version 1 implied, fault routes out of ``consumer``."""

    def params_2(params: dict[str, Any]) -> dict[str, Any]:
        out = dict(params)
        consumer = out.get("consumer")
        out["fault"] = consumer if consumer in FAULTS else "none"
        if consumer in FAULTS:
            out["consumer"] = "async"  # the fault consumers are the async one, plus a fault
        out.setdefault("workload", "chat")
        out.setdefault("server", "daphne")
        return out

    for point in data.get("points") or []:
        point["params"] = params_2(point.get("params") or {})
    calibration = data.get("calibration")
    if isinstance(calibration, dict) and isinstance(calibration.get("params"), dict):
        calibration["params"] = params_2(calibration["params"])
    matrix = (data.get("scenario") or {}).get("matrix")
    if isinstance(matrix, dict) and any(c in FAULTS for c in matrix.get("consumer", [])):
        faults = [c for c in matrix["consumer"] if c in FAULTS]
        matrix["consumer"] = [c for c in matrix["consumer"] if c not in FAULTS] or ["async"]
        matrix["fault"] = faults
    data["schema_version"] = 2
    return data


MIGRATIONS = {1: update_to_2}


def from_file_json(data: dict[str, Any]) -> Run:
    """A result file's JSON, of any version this chanbench reads, as a ``Run``."""
    version = data["schema_version"]
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version = data["schema_version"]
    return Run.from_json(data)
