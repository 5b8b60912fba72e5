"""What a report says, as blocks of text: the same content for ``README.md`` and
``index.html``, so the two never disagree.

A report follows the shape of Channels' old load-test READMEs (``loadtesting/<date>/``):
a Summary (who wins at each load, by what ratio, and the caveats), the Methodology, the
exact versions, the charts, the warnings, and the command that reproduces the run. The
summary's verdicts come from ``summary``; the blocks are rendered by ``render``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.judge import significance, stats
from bench.report import deployments, environments, workloads
from bench.report.layout import (
    MAX_LOADS_DRAWN,
    Chart,
    Layout,
    Source,
    median_range,
    param_values,
    scenario_names,
)
from bench.report.summary import summary_items
from bench.report.tables import LOST, ms, num
from bench.results.model import PointResult
from bench.scenario.model import Point, Search


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Items:
    items: list[str]


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Figure:
    chart: Chart


Block = Heading | Paragraph | Code | Items | Table | Figure


def document(lay: Layout, charts: Sequence[Chart]) -> tuple[str, list[Block]]:
    """The report's title and blocks, section by section, each section per result file."""
    sources = lay.sources
    multi = lay.multi_source
    first_env = sources[0].run.environment
    title = f"chanbench report: {scenario_names(sources)}, {_when(first_env.get('started_at'))}"
    files = [
        f"{s.label + ': ' if multi else ''}{s.path.name if s.path else '(in memory)'}"
        for s in sources
    ]
    blocks: list[Block] = [
        Heading(1, title),
        Paragraph("Result file" + ("s" if multi else "") + ": " + "; ".join(files)),
    ]

    def section(heading: str, make: Callable[[Source], list[Block]]) -> None:
        blocks.append(Heading(2, heading))
        for source in sources:
            if multi:
                blocks.append(Heading(3, source.label))
            blocks.extend(make(source))

    section("Summary", lambda s: summary_blocks(lay, s))
    if any(workloads.workload_table(s.run) for s in sources):
        section("Workloads: the tutorial's note, measured", workload_blocks)
    if any(deployments.ranking(s.run) for s in sources):
        section("Deployments: which configuration to pick", deployment_blocks)
    if any(workloads.neighbour_table(s.run) for s in sources):
        section("Neighbours: does one consumer's work stall the others?", neighbour_blocks)
    if any(environments.table(s.run) for s in sources):
        section("Environments: which release changed what", environment_blocks)
    section("Methodology", lambda s: [Items(methodology_items(s))])
    section("Versions", version_blocks)
    blocks.append(Heading(2, "Charts"))
    if charts:
        blocks.append(
            Paragraph(
                "Markers are medians over repeats of each repeat's value; bars span the "
                "minimum to the maximum. The spectrum charts merge every repeat's histogram. "
                "Colour is the consumer, line style the layer"
                + (" and result file" if multi else "")
                + "."
            )
        )
        loads = len(lay.groups())
        if loads > MAX_LOADS_DRAWN:
            blocks.append(
                Paragraph(
                    f"{loads} loads: the latency spectrum and timeline of each are left out "
                    f"(drawn for {MAX_LOADS_DRAWN} loads or fewer); the result file keeps "
                    "every histogram and series, and the tables above have the figures."
                )
            )
        blocks.extend(Figure(chart) for chart in charts)
    else:
        blocks.append(Paragraph("No successful repeat: nothing to draw."))
    section("Warnings", lambda s: [Items(w)] if (w := warning_items(s)) else [Paragraph("None.")])
    section("Reproduce", reproduce_blocks)
    return title, blocks


# --- Summary: who wins, the numbers behind it, and what to beware of ------------------


def summary_blocks(lay: Layout, source: Source) -> list[Block]:
    items = summary_items(lay, source)
    return [
        Items(items)
        if items
        else Paragraph(
            "No sync/async pair at the same load to compare; the table below has every point."
        ),
        results_table(lay, source),
        Paragraph(TABLE_CAPTION),
        Paragraph("Caveats:"),
        Items(caveat_items(source)),
    ]


def workload_blocks(source: Source) -> list[Block]:
    table = workloads.workload_table(source.run)
    if table is None:
        return [Paragraph("The tutorial's chat alone: no workload to compare.")]
    answer = workloads.answer(source.run)
    sqlite = any(
        p.point.database == "sqlite" and p.point.workload != "chat" for p in source.run.points
    )
    return [
        *([Paragraph(answer)] if answer else []),
        Table(*table),
        Paragraph(workloads.CAPTION),
        *([Paragraph(workloads.SQLITE_NOTE)] if sqlite else []),
    ]


def deployment_blocks(source: Source) -> list[Block]:
    ranks = deployments.ranking(source.run)
    if not ranks:
        return [Paragraph("No saturation search: nothing to rank.")]
    saturation = source.run.saturation
    bounds = saturation.bounds if saturation else Search()
    return [
        Items(deployments.advice(ranks)),
        Table(*deployments.table(ranks)),
        Paragraph(
            "Ranked by what each configuration delivered at the highest rate at which "
            f"every repeat kept p99 within {bounds.p99_ms:g} ms and loss within "
            f"{bounds.loss:.2%}. Server CPU sums the server's whole process tree "
            "(supervisor and workers)."
        ),
    ]


def neighbour_blocks(source: Source) -> list[Block]:
    table = workloads.neighbour_table(source.run)
    if table is None:
        return [Paragraph("No point with neighbours.")]
    return [Table(*table), Paragraph(workloads.NEIGHBOUR_CAPTION)]


def environment_blocks(source: Source) -> list[Block]:
    table = environments.table(source.run)
    if table is None:
        return [Paragraph("One environment: nothing to set against it.")]
    answer = environments.answer(source.run)
    return [
        *([Paragraph(answer)] if answer else []),
        Table(*table),
        Paragraph(environments.CAPTION),
    ]


# Which percentile the table shows (the charts' captions say theirs).
TABLE_CAPTION = (
    "Every number is the median over repeats of each repeat's own value (the range: the "
    "repeats' minimum to maximum). p50, p99 and p99.9: median over repeats of each "
    "repeat's percentile, every expected delivery counted, a lost message as +inf: "
    f"{LOST} when the percentile is a message that never arrived. The spectrum charts "
    "merge every repeat's histogram instead."
)


def _lossy(source: Source) -> bool:
    return any((rep.loss_ratio or 0) > 0 for p in source.run.points for rep in p.ok_repeats())


def results_table(lay: Layout, source: Source) -> Table:
    """The points of ``source``; a delivered-only p99 column when anything was lost."""
    lossy = _lossy(source)
    headers = [
        "point",
        "delivered/s",
        "range",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        *(["p99 ms, delivered only"] if lossy else []),
        "threads",
        "CPU %",
        "loop CPU %",
        "other threads CPU %",
        "loss",
        "repeats",
    ]
    rows = []
    for line in (ln for ln in lay.lines if ln.source is source):
        for x, point in line.points:
            m = point.medians()
            rng = median_range(point, "delivered_per_s")
            loss = None if m["loss_ratio"] is None else 100 * m["loss_ratio"]
            rows.append(
                [
                    f"{line.consumer} {line.layer} {lay.point_name(x, line.extra)}",
                    num(m["delivered_per_s"]),
                    "-" if rng is None else f"{rng[1]:,.0f}-{rng[2]:,.0f}",
                    ms(m["p50_ms"], ".1f"),
                    ms(m["p99_ms"], ".1f"),
                    ms(m["p99_9_ms"], ".1f"),
                    *([ms(m["p99_delivered_ms"], ".1f")] if lossy else []),
                    num(m["threads"]),
                    num(m["cpu_percent"]),
                    num(m["loop_cpu_percent"]),
                    num(m["other_threads_cpu_percent"]),
                    num(loss, ".2f", "%"),
                    f"{len(point.ok_repeats())}/{len(point.repeats)}",
                ]
            )
    return Table(headers, rows)


def caveat_items(source: Source) -> list[str]:
    run = source.run
    env = run.environment
    items = []
    repeats = [len(p.ok_repeats()) for p in run.points]
    if repeats and min(repeats) < stats.FEW_REPEATS:
        items.append(
            f"Only {min(repeats)} successful repeat(s) for some points: the bars are "
            "ranges of very few samples, and differences under about 10-20% may be "
            "noise. Run more repeats (--set repeats=5) for firmer numbers."
        )
    if not run.target:
        items.append(
            f"Clients and server ran on the same machine ({env.get('cpu_count', '?')} "
            "CPUs): the load generator competes with the server for CPU, so absolute "
            "rates are this machine's, and ratios are the portable part."
        )
    for calibration in run.calibrations:
        shape = calibration.point
        where = (
            f"{shape.clients} clients in rooms of {shape.clients_per_room}"
            if shape.clients_per_room
            else f"{shape.clients} clients in {shape.rooms} room(s)"
        )
        if calibration.deliveries_per_s:
            ceiling = calibration.deliveries_per_s
            best = max(
                (
                    p.median("delivered_per_s") or 0
                    for p in run.points
                    if run.calibration_for(p.point) is calibration
                ),
                default=0,
            )
            items.append(
                f"The load generator's ceiling for {where}, measured in closed loop against "
                f"a minimal reference server, was {ceiling:,.0f} deliveries/s; the fastest "
                f"point of that shape reached {best / ceiling:.0%} of it."
            )
        elif calibration.error:
            items.append(
                f"Calibration for {where} failed ({calibration.error}): the load "
                "generator's ceiling there is unknown."
            )
    if not run.calibrations:
        items.append(
            "No calibration (--no-calibrate): the load generator's ceiling is unknown, "
            "so a client limit cannot be ruled out."
        )
    if run.partial:
        items.append("The run was interrupted: points or repeats are missing.")
    if (env.get("git") or {}).get("dirty"):
        items.append(
            "The working tree had uncommitted changes: the commit alone does not "
            "reproduce this run."
        )
    return items


# --- The other sections --------------------------------------------------------------------


def methodology_items(source: Source) -> list[str]:
    run = source.run
    scenario, env = run.scenario, run.environment
    point = run.points[0].point if run.points else Point()
    items = [
        f"Scenario {scenario.name or '?'!r}"
        + (f" ({scenario.path})" if scenario.path else "")
        + (f": {scenario.description}" if scenario.description else ""),
        "Matrix: "
        + "; ".join(
            f"{k} = {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in scenario.matrix.items()
        ),
    ]
    if scenario.overrides:
        items.append(
            "Overridden on the command line: "
            + ", ".join(f"{k}={','.join(map(str, v))}" for k, v in scenario.overrides.items())
        )
    if point.mode == "open":
        load = (
            f"Open loop: each client sends {point.rate} messages/s "
            f"({point.arrival} arrivals) whatever the server does, so latency "
            "includes any queueing."
        )
    else:
        load = (
            "Closed loop: each client sends its next message as soon as its previous one "
            "comes back, so throughput is what the server sustains."
        )
    items.append(
        load + " Each message is broadcast to every member of the sender's room "
        "(the tutorial's chat); latency is measured from send to each delivery."
    )
    items.append(
        f"Phases of every repeat: a fresh server process ({param_values([source], 'server')}), "
        f"clients connect, {point.warmup_s} s warm-up (not measured), "
        f"{point.duration_s} s measured, then a drain until every delivery "
        f"owed has arrived (or {point.drain_max_s} s at most; where rooms span "
        f"client processes, a silence of {point.drain_quiet_s} s or 4 times the "
        "p99 so far, whichever is longer) "
        "(lost messages are counted after it). Sync and async at the same load are measured "
        "repeat by repeat in turn, in alternating order (sync first on even repeats, async "
        "first on odd ones), so a drifting machine is charged to both alike. Both "
        "consumers' sync work (the sync consumer's handlers, the auth middleware's user "
        "lookup, the async consumer's aclose_old_connections hop) runs on asgiref's one "
        "thread-sensitive executor, whatever ASGI_THREADS says."
    )
    reps = sorted({len(p.repeats) for p in run.points})
    items.append(
        f"Repeats per point: {', '.join(map(str, reps))}. Numbers are medians over "
        "repeats of each repeat's value (a repeat's latency percentiles come from its "
        "client processes' HdrHistograms, merged); chart bars span the minimum to the "
        "maximum; the spectrum charts merge every repeat's histogram. No outlier is "
        "dropped; a repeat that delivered nothing counts, as zero throughput and lost "
        "latency. "
        "Latency percentiles count every expected delivery: a lost message is +inf, so "
        f"a percentile past the delivered fraction reads {LOST}. "
        f"A consumer wins only where chanbench compare would call it better: medians "
        f"{significance.DEFAULT_THRESHOLD:.0%} apart and a Mann-Whitney U test over the repeats "
        f"at p < {significance.SIGNIFICANCE_ALPHA:g}: on throughput in closed loop (where latency "
        "follows from throughput by Little's law), on p99 in open loop, and there only when "
        f"neither consumer lost more than {stats.LOSS_BOUND:.1%} in any repeat."
    )
    cpu = f"{env.get('cpu_model', '?')} x {env.get('cpu_count', '?')}"
    items.append(
        f"Machine: {env.get('host', '?')}, {cpu}, {env.get('os', '?')}, "
        f"Python {env.get('python', '?')}" + (f"; target {run.target}" if run.target else "")
    )
    items.append(f"Started {_when(env.get('started_at'))}, finished {_when(run.finished_at)}.")
    return items


def version_blocks(source: Source) -> list[Block]:
    """The runner's versions, then what each server's own interpreter reported."""
    env = source.run.environment
    git = env.get("git") or {}
    rows = [
        ["chanbench", str(source.run.tool.get("version", "?"))],
        [
            "git commit",
            f"{git.get('commit') or 'none'}"
            + (" (dirty: uncommitted changes)" if git.get("dirty") else ""),
        ],
        ["python", f"{env.get('python', '?')} ({env.get('python_implementation', '?')})"],
        ["os", str(env.get("os", "?"))],
        ["cpu", f"{env.get('cpu_model', '?')} x {env.get('cpu_count', '?')}"],
    ]
    rows += [[name, str(version)] for name, version in (env.get("packages") or {}).items()]
    if env.get("redis_server"):
        rows.append(["redis-server", str(env["redis_server"])])
    blocks: list[Block] = [Table(["component", "version"], rows)]
    # Points that ran the same versions share one table; old files have none.
    by_versions: dict[str, list[PointResult]] = {}
    for point in source.run.points:
        if point.software:
            by_versions.setdefault(repr(sorted(point.versions().items())), []).append(point)
    for points in by_versions.values():
        labels = [p.label for p in points]
        which = "every point" if len(labels) == len(source.run.points) else ", ".join(labels)
        blocks.append(Paragraph(f"The server's own interpreter reported ({which}):"))
        rows = [[name, version] for name, version in points[0].versions().items()]
        interpreters = _unique((p.software or {}).get("executable") for p in points)
        rows += [["interpreter", str(e)] for e in interpreters if e]
        blocks.append(Table(["component", "version"], rows))
        envs = _unique(p.point.env for p in points)
        if len(envs) > 1:
            blocks.append(
                Paragraph(
                    f"Environments {', '.join(envs)} resolved to the same versions: what "
                    "tells them apart is not these packages."
                )
            )
    return blocks


def _unique(items: Iterable[Any]) -> list[Any]:
    """``items`` without repeats, in their order."""
    return list(dict.fromkeys(items))


def warning_items(source: Source) -> list[str]:
    """Client saturation, lost messages, failed repeats, wide spread, few repeats."""
    items: list[str] = []
    few = False
    for point in source.run.points:
        label = point.label or point.id
        for rep in point.repeats:
            if not rep.ok:
                items.append(f"{label}, repeat {rep.repeat}: failed: {rep.reason}")
            items += [f"{label}, repeat {rep.repeat}: {warning}" for warning in rep.warnings]
        for metric in ("delivered_per_s", "p99_ms"):
            items += [f"{label}: {w}" for w in stats.spread_warnings(metric, point.values(metric))]
        few = few or len(point.ok_repeats()) < stats.FEW_REPEATS
    if few:
        items.append(
            f"Fewer than {stats.FEW_REPEATS} successful repeats at some points: "
            "spread cannot be judged there."
        )
    return list(dict.fromkeys(items))


def reproduce_blocks(source: Source) -> list[Block]:
    git = source.run.environment.get("git") or {}
    text = f"At git commit {git.get('commit') or '(no git)'}"
    text += (" plus uncommitted changes" if git.get("dirty") else "") + ", run:"
    return [Paragraph(text), Code(source.run.command or "(the command was not recorded)")]


def _when(timestamp: Any) -> str:
    """A timestamp (epoch seconds or ISO text) as ``2026-11-24 18:58 UTC``."""
    if isinstance(timestamp, int | float):
        when = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    elif isinstance(timestamp, str):
        try:
            when = dt.datetime.fromisoformat(timestamp).astimezone(dt.UTC)
        except ValueError:
            return timestamp
    else:
        return "unknown"
    return when.strftime("%Y-%m-%d %H:%M UTC")
