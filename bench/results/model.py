"""The result model: what a run measured, typed, with one way in and out of JSON.

A run holds points; a point holds repeats; a repeat is merged from its client workers'
results. Every record is a dataclass with the same ``to_json`` / ``from_json`` pair
(``bench.results.record``), so the shape of a result file is written down once: here, in
``books`` (what a client worker measured), ``saturation`` (a search's verdicts) and, for
the point and the scenario as run, ``bench.scenario.model``.

The schema's history and the migrations of older files live in ``bench.results.schema``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.judge import stats
from bench.results.books import Counts, RoomTally, WorkerResult
from bench.results.churn import Churn, Staircase
from bench.results.drops import LayerDrops
from bench.results.environment import Environment, Software
from bench.results.hosts import HostSummary
from bench.results.metrics import METRICS, walk
from bench.results.profile import ProfileRecord
from bench.results.record import Record
from bench.results.saturation import Saturation, StepVerdict
from bench.results.schema import SCHEMA_VERSION
from bench.results.usage import MachineSummary, MonitorSummary
from bench.scenario.model import KEYS, Point, Scenario

# --- One repeat of a point ----------------------------------------------------------------


@dataclass
class RepeatCounts(Counts):
    """A repeat's counters, with what its rooms expected and what did not arrive."""

    clients: int = 0
    rooms: int = 0
    expected: int = 0
    lost: int = 0
    receiver_gone: int = 0  # deliveries owed to members that had left: not expected
    # Churn under load: deliveries owed to members while they were away (they left and
    # came back): not expected either, and what arrived of them is not delivered.
    away: int = 0


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
    # Schema 1 files only: a 0.5 s timer's lag. Replaced by ``Repeat.lateness_ms``.
    max_loop_lag_ms: float | None = None
    drain_s: float = 0.0


@dataclass
class DatabaseTally(Record):
    """What a repeat left in the database (orm workloads): each message a client sent,
    warm-up included, is saved as one row before its broadcast; a missing row is a lost
    write."""

    kind: str = ""
    rows: int = 0
    sent: int = 0

    @property
    def lost_writes(self) -> int:
        return max(0, self.sent - self.rows)


@dataclass
class NeighbourSummary(Record):
    """The unmeasured neighbours of a repeat (``Point.neighbour``): the load they put on
    the server, and how they fared."""

    route: str = ""
    clients: int = 0
    sent_per_s: float = 0.0
    delivered_per_s: float = 0.0
    p99_delivered_ms: float | None = None  # of what arrived: see loss_ratio
    loss_ratio: float | None = None

    @classmethod
    def of(cls, route: str, repeat: Repeat) -> NeighbourSummary:
        throughput, counts = repeat.throughput, repeat.counts
        return cls(
            route=route,
            clients=counts.clients if counts else 0,
            sent_per_s=round(throughput.sent_per_s, 1) if throughput else 0.0,
            delivered_per_s=round(throughput.delivered_per_s, 1) if throughput else 0.0,
            p99_delivered_ms=repeat.latency_ms.get("p99"),
            loss_ratio=repeat.loss_ratio,
        )


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
    # Open loop: how late each measured send went out (actual minus intended), in ms, and
    # its histogram (µs); empty in closed loop, where a send is never late by design.
    lateness_ms: dict[str, float | None] = field(default_factory=dict)
    lateness_histogram: str = ""
    connect_ms: dict[str, float | None] = field(default_factory=dict)
    connect_errors: dict[str, int] = field(default_factory=dict)
    # Churn under load (``reconnect_per_s``): each reconnect's connect time, percentiles.
    reconnect_ms: dict[str, float | None] = field(default_factory=dict)
    clients: ClientSummary | None = None
    interrupted: bool = False
    compression_offered: bool = False
    delivery_series: dict[str, list[float]] = field(default_factory=dict)
    server: MonitorSummary | None = None
    services: dict[str, MonitorSummary] = field(default_factory=dict)
    machine: MachineSummary | None = None
    database: DatabaseTally | None = None
    neighbour: NeighbourSummary | None = None
    ceiling_fraction: float | None = None
    warnings: list[str] = field(default_factory=list)
    # On a cluster (``--cluster``, ``results.hosts``): each load host; "same-host" when
    # ``latency_ms`` times only pairs on one host; the latency between hosts, corrected
    # by their clock offsets, where its bound is small beside its p50.
    hosts: list[HostSummary] = field(default_factory=list)
    latency_scope: str = ""
    cross_host_latency_ms: dict[str, float | None] = field(default_factory=dict)
    cross_host_histogram: str = ""
    cross_host_bound_ms: float | None = None
    # A churn point's cycles, counters and leak verdicts (bench/results/churn.py).
    churn: Churn | None = None
    # A staircase of idle connections (the same module).
    staircase: Staircase | None = None
    # profile = "cpu": where the server's profiles are, or why they are missing.
    profile: ProfileRecord | None = None
    # What the channel layer dropped silently (None: not counted; results/drops.py).
    layer_drops: LayerDrops | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def latency_with_loss_ms(self, pct: float) -> float | None:
        """The ``pct`` percentile over every expected delivery (``stats.percentile_with_loss``):
        +inf when more than 100 - ``pct`` percent were lost, or nothing was delivered.
        Computed, never stored: older files read the same way."""
        counts = self.counts
        if counts is None:  # no books to count losses from: the delivered-only figure
            return self.latency_ms.get(stats.percentile_key(pct))
        lossless = counts.delivered >= counts.expected
        return stats.percentile_with_loss(
            self.latency_ms if lossless else self.latency_histogram,
            pct,
            counts.expected,
            counts.delivered,
        )

    def value(self, metric: str) -> float | None:
        """``metric`` of this repeat (``METRICS``); loss-aware latencies may be +inf."""
        spec = METRICS[metric]
        if spec.percentile is not None:
            return self.latency_with_loss_ms(spec.percentile)
        value = walk(self, spec.path)
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if numeric and math.isfinite(value) else None

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
                acc.sends_us += tally.sends_us
                acc.departures_us += tally.departures_us
                acc.away_us += tally.away_us
        total = Counts.total(r.counts for r in results)
        # What nobody could receive: sent after its receiver had left (any worker's send).
        gone = sum(t.receiver_gone() for t in rooms.values())
        away = sum(t.away() for t in rooms.values())
        expected = sum(t.members * t.sent for t in rooms.values()) - gone - away
        counts = RepeatCounts(
            **dataclasses.asdict(total),
            clients=clients,
            rooms=len(rooms),
            expected=expected,
            lost=max(0, expected - total.delivered),
            receiver_gone=gone,
            away=away,
        )
        measured_s = max((r.measured_s for r in results), default=0.0) or duration_s
        hist = stats.merge_histograms(r.latency_histogram for r in results)
        lateness = stats.merge_histograms(r.lateness_histogram for r in results)
        connect_ms = [ms for r in results for ms in r.connect_ms]
        reconnect_ms = [ms for r in results for ms in r.reconnect_ms]
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
            lateness_ms=_lateness_summary_ms(lateness),
            lateness_histogram=(
                lateness.encode().decode("ascii") if lateness.get_total_count() else ""
            ),
            connect_ms=stats.connect_summary_ms(connect_ms),
            connect_errors=connect_errors,
            reconnect_ms=(
                {**stats.percentiles(reconnect_ms), "max": max(reconnect_ms)}
                if reconnect_ms
                else {}
            ),
            clients=ClientSummary(
                processes=len(results),
                cpu_percent=[
                    round(100 * r.cpu_s / (r.measured_s or measured_s), 1) for r in results
                ],
                drain_s=max((r.drain_s for r in results), default=0.0),
            ),
            interrupted=any(r.interrupted for r in results),
            compression_offered=compression,
        )


def _lateness_summary_ms(hist: Any) -> dict[str, float | None]:
    """p50, p99 and max lateness in ms, and the count of sends: empty in closed loop."""
    if not hist.get_total_count():
        return {}
    summary = stats.latency_summary_ms(hist)
    return {key: summary[key] for key in ("p50", "p99", "max", "count")}


# --- A point, and the run --------------------------------------------------------------


@dataclass
class PointResult(Record):
    """One configuration of the scenario's matrix and its repeats."""

    # Every file chanbench wrote has them: a point without them is not one.
    REQUIRED = ("id", "point", "repeats")
    id: str = ""
    label: str = ""
    point: Point = field(default_factory=Point)
    repeats: list[Repeat] = field(default_factory=list)
    # The software the point's server ran, read from its own interpreter.
    software: Software | None = None
    # The command line its server ran (every setting chanbench pins is on it).
    server_command: list[str] | None = None
    # A saturation search step: whether it held the bounds, and why not.
    search: StepVerdict | None = None

    def ok_repeats(self) -> list[Repeat]:
        return [r for r in self.repeats if r.ok]

    def values(self, metric: str) -> list[float]:
        """The values of ``metric`` over the successful repeats: a repeat that delivered
        nothing is a sample too (+inf latency, 0 throughput), never skipped."""
        values = (rep.value(metric) for rep in self.ok_repeats())
        return [v for v in values if v is not None]

    def median(self, metric: str) -> float | None:
        return stats.median(self.values(metric))

    def versions(self) -> dict[str, str]:
        """What its server ran, by name: Python, each package, and the commit of a
        source environment's site; not where they were installed, so that two
        environments that resolve to the same versions show as the same."""
        found = self.software or Software()
        versions = {"python": found.python} if found.python else {}
        versions |= {k: "-" if v is None else v for k, v in found.packages.items()}
        if found.site and found.site.commit:
            dirty = " (dirty)" if found.site.dirty else ""
            versions["site commit"] = found.site.commit + dirty
        return versions

    def medians(self) -> dict[str, float | None]:
        return {metric: self.median(metric) for metric in METRICS}

    def version_changes(self, other: PointResult) -> list[str]:
        """``channels 4.1.0 -> 4.2.0``: what ``other``'s server ran that this one's did not."""
        was, now = self.versions(), other.versions()
        names = dict.fromkeys([*was, *now])
        return [
            f"{k} {was.get(k, '-')} -> {now.get(k, '-')}" for k in names if was.get(k) != now.get(k)
        ]


@dataclass
class Calibration(Record):
    """The load generator's ceiling: the same clients against the reference server."""

    server: str = ""
    point: Point = field(default_factory=Point)
    deliveries_per_s: float | None = None
    sent_per_s: float | None = None
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    client_cpu_percent: list[float] = field(default_factory=list)
    server_cpu_mean_percent: float | None = None
    error: str | None = None
    hosts: list[HostSummary] = field(default_factory=list)  # on a cluster: each host's


@dataclass
class Tool(Record):
    """What wrote the result file."""

    name: str = "chanbench"
    version: str = ""


@dataclass
class Run(Record):
    """A whole result file."""

    schema_version: int = SCHEMA_VERSION
    tool: Tool = field(default_factory=Tool)
    environment: Environment = field(default_factory=Environment)
    scenario: Scenario = field(default_factory=Scenario)
    target: str | None = None
    partial: bool = True
    # One calibration per shape of load (``CALIBRATION_SHAPE``) among the points.
    calibrations: list[Calibration] = field(default_factory=list)
    points: list[PointResult] = field(default_factory=list)
    saturation: Saturation | None = None
    command: str | None = None
    finished_at: float | None = None
    error: str | None = None

    @property
    def varying(self) -> list[str]:
        return varying_keys([p.point for p in self.points])

    def calibration_for(self, point: Point) -> Calibration | None:
        """The calibration measured on the shape of load of ``point``."""
        wanted = load_shape(point)
        return next((c for c in self.calibrations if load_shape(c.point) == wanted), None)


# What the load generator's ceiling depends on: how many clients, in how many rooms,
# sending how much, over how many processes. Calibrated once per distinct shape.
CALIBRATION_SHAPE = (
    "clients",
    "rooms",
    "clients_per_room",
    "message_bytes",
    "compression",
    "client_processes",
)


def load_shape(point: Point) -> tuple[Any, ...]:
    return tuple(point.value(key) for key in CALIBRATION_SHAPE)


# Keys that never tell points apart in a table or a chart: repeats is how often, not what.
NOT_VARYING = ("repeats",)


def varying_keys(points: Sequence[Point], exclude: Sequence[str] = ()) -> list[str]:
    """The keys whose values differ between points, in the Point's order.

    The one answer to "what varies?" for tables, charts and comparisons."""
    return [
        k
        for k in KEYS
        if k not in NOT_VARYING and k not in exclude and len({repr(p.value(k)) for p in points}) > 1
    ]
