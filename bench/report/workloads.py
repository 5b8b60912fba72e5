"""The tutorial's note, measured: how much of async's gain survives real work.

Part 3 of the Channels tutorial says that a consumer calling Django models or other sync
code through ``database_sync_to_async`` can still be rewritten as async, but that "the
performance gains however would be less than if it only used async-native libraries".
For every workload of a result, at each load, this sets the async consumer's ratio to
the sync one beside its async-native twins' (each against the same sync consumer), with
the verdict ``chanbench compare`` would give and the threads and CPU that explain it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.deploy.workloads import WORKLOADS
from bench.judge import stats
from bench.report.summary import judge_pair, verdict_word
from bench.results.metrics import METRICS
from bench.results.model import PointResult, Run
from bench.results.units import num
from bench.scenario.model import KEYS

NOT_LOAD = ("consumer", "workload", "repeats")

HEADERS = [
    "load",
    "workload",
    "what the async consumer does",
    "async/sync msg/s",
    "async/sync p99",
    "verdict",
    "threads sync / async",
    "CPU sync: loop + other",
    "CPU async: loop + other",
    "database CPU sync / async (per message)",
]

CAPTION = (
    "Each async consumer against the sync consumer of the workload it rewrites (the "
    "-native and -acreate rows against the sync orm or blocking consumer), medians over "
    "repeats. The verdict is chanbench compare's rule: throughput in closed loop, p99 in "
    "open loop, 10% and a Mann-Whitney U test at p < 0.05. CPU is % of one core: the "
    "event loop's thread, plus every other thread (asgiref's one thread-sensitive "
    "executor runs the sync consumer's handlers and every sync_to_async and "
    "database_sync_to_async call; Django's acreate is sync_to_async(create), the same "
    "thread). Database CPU: the private PostgreSQL's processes (backends that served one "
    "connection and exited included), and per message sent: its CPU time over the "
    "messages it saved."
)
SQLITE_NOTE = (
    "SQLite: one writer at a time. Its database-level write lock serialises every save, "
    "whichever consumer makes it, and a writer that waits holds its thread (Django's "
    "timeout: 20 s here)."
)


def point_key(point: PointResult, skip: Callable[[str], bool]) -> tuple[Any, ...]:
    """The point's keys but those ``skip`` names, hashable: points equal in everything else."""
    return tuple((k, repr(point.point.value(k))) for k in KEYS if not skip(k))


def _load(point: PointResult) -> tuple[Any, ...]:
    return point_key(point, NOT_LOAD.__contains__)


def _without_neighbours(point: PointResult) -> tuple[Any, ...]:
    return point_key(point, lambda k: k.startswith("neighbour"))


def _load_name(point: PointResult, varying: list[str]) -> str:
    parts = [f"{point.point.mode} loop"]
    parts += [f"{k}={point.point.value(k)}" for k in varying if k != "mode"]
    return ", ".join(parts)


def cpu_split(point: PointResult) -> str:
    """``86 + 20``: the event loop's thread's CPU and every other thread's, % of a core."""
    loop, other = point.median("loop_cpu_percent"), point.median("other_threads_cpu_percent")
    if loop is None or other is None:
        return METRICS["cpu_percent"].format(point.median("cpu_percent"))
    return f"{loop:.0f} + {other:.0f}"


def _database_cpu(point: PointResult) -> str:
    """``12% (0.31 ms)``: the database's CPU, and its CPU time per message sent."""
    cpu, sent = point.median("database_cpu_percent"), point.median("sent_per_s")
    if cpu is None:
        return "-"
    per = f" ({10 * cpu / sent:.2f} ms)" if sent else ""
    return f"{cpu:.0f}%{per}"


def workload_table(run: Run) -> tuple[list[str], list[list[str]]] | None:
    """The rows of the workloads table, or None when the run measured chat alone."""
    points = run.points
    if {p.point.workload for p in points} <= {"chat"}:
        return None
    groups: dict[tuple[Any, ...], dict[tuple[str, str], PointResult]] = {}
    for point in points:
        key = (point.point.consumer, point.point.workload)
        groups.setdefault(_load(point), {})[key] = point
    loads = [dict(k) for k in groups]
    varying = [
        k for k in {k for load in loads for k in load} if len({ld.get(k) for ld in loads}) > 1
    ]
    rows = []
    for members in groups.values():
        # An async-native twin is measured against the sync consumer of the workload it
        # rewrites (its registry entry's base).
        for workload in WORKLOADS.values():
            async_ = members.get(("async", workload.name))
            sync = members.get(("sync", workload.compared_with))
            if async_ is None or sync is None:
                continue
            _, judgement = judge_pair(sync, async_)
            thr = stats.ratio(async_.median("delivered_per_s"), sync.median("delivered_per_s"))
            p99 = stats.ratio(async_.median("p99_ms"), sync.median("p99_ms"))
            rows.append(
                [
                    _load_name(async_, sorted(varying)),
                    workload.name,
                    workload.how,
                    num(thr, ".2f", "x"),
                    num(p99, ".2f", "x"),
                    verdict_word(judgement),
                    f"{num(sync.median('threads'))} / {num(async_.median('threads'))}",
                    cpu_split(sync),
                    cpu_split(async_),
                    f"{_database_cpu(sync)} / {_database_cpu(async_)}",
                ]
            )
    return (HEADERS, rows) if rows else None


def answer(run: Run) -> str | None:
    """The tutorial's sentence, answered with this run's closed-loop throughput ratios."""
    table = workload_table(run)
    if table is None:
        return None
    _, rows = table
    closed = [r for r in rows if r[0].startswith("closed")]
    if not closed:
        return None
    said = "; ".join(f"{r[1]} {r[3]}" for r in closed)
    return (
        "The tutorial says async still gains when it calls sync code through "
        "database_sync_to_async, but less than with async-native libraries. Measured here, "
        f"async/sync messages per second in closed loop: {said}."
    )


NEIGHBOUR_HEADERS = [
    "consumer, workload",
    "neighbours",
    "p99 alone ms",
    "p99 beside them ms",
    "ratio",
    "verdict",
    "neighbours' own: sent/s, delivered/s, lost",
]

NEIGHBOUR_CAPTION = (
    "The same measured clients alone and beside unmeasured neighbours in the same server "
    "process (open loop; medians over repeats of each repeat's p99, lost messages as "
    "+inf). The verdict is chanbench compare's rule, alone as the base: 'worse' means the "
    "neighbours slowed the measured consumer down. A sync consumer's handlers, and every "
    "async consumer's sync_to_async hops (Channels 4.2+ makes one per message, "
    "aclose_old_connections), queue on asgiref's one thread-sensitive thread."
)


def neighbour_table(run: Run) -> tuple[list[str], list[list[str]]] | None:
    """Each point with neighbours against the same point alone, or None without any."""
    alone: dict[tuple[Any, ...], PointResult] = {}
    beside: list[PointResult] = []
    for point in run.points:
        key = _without_neighbours(point)
        if point.point.neighbour == "none":
            alone[key] = point
        else:
            beside.append(point)
    rows = []
    for point in beside:
        config = point.point
        base = alone.get(_without_neighbours(point))
        if base is None:
            continue
        losses = {"alone": base.values("loss_ratio"), "beside": point.values("loss_ratio")}
        p99 = METRICS["p99_ms"]
        judgement = p99.judge(base.values(p99.name), point.values(p99.name), losses)
        word = verdict_word(judgement, "better", "worse")
        own = [r.neighbour for r in point.ok_repeats() if r.neighbour is not None]
        sent = stats.median([n.sent_per_s for n in own])
        delivered = stats.median([n.delivered_per_s for n in own])
        lost = stats.median([n.loss_ratio for n in own if n.loss_ratio is not None])
        rows.append(
            [
                f"{config.consumer} {config.workload}",
                f"{config.neighbour_clients} x {config.neighbour} at {config.neighbour_rate}/s",
                p99.format(base.median(p99.name)),
                p99.format(point.median(p99.name)),
                num(stats.ratio(point.median("p99_ms"), base.median("p99_ms")), ".2f", "x"),
                word,
                f"{num(sent)}, {num(delivered)}, {num(lost, '.2%')}",
            ]
        )
    return (NEIGHBOUR_HEADERS, rows) if rows else None
