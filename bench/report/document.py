"""What a report says, as blocks of text: the same content for ``README.md`` and
``index.html``, so the two never disagree.

A report follows the shape of Channels' old load-test READMEs (``loadtesting/<date>/``):
a Summary (who wins at each load, by what ratio, and the caveats), the Methodology, the
exact versions, the charts, the warnings, and the command that reproduces the run. The
summary's verdicts come from ``summary``; how the run was made (methodology, versions,
warnings, reproduce) from ``provenance``; the blocks are rendered by ``render``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bench.judge import stats
from bench.report import churn, deployments, environments, profiles, workloads
from bench.report.blocks import Block, Figure, Heading, Items, Paragraph, Table
from bench.report.cluster import cluster_items
from bench.report.layout import (
    MAX_LOADS_DRAWN,
    Chart,
    Layout,
    Source,
    median_range,
    scenario_names,
)
from bench.report.losses import loss_causes
from bench.report.provenance import (
    methodology_items,
    reproduce_blocks,
    version_blocks,
    warning_items,
    when,
)
from bench.report.summary import summary_items
from bench.results.metrics import METRICS
from bench.results.units import LOST
from bench.scenario.model import Search


def document(lay: Layout, charts: Sequence[Chart]) -> tuple[str, list[Block]]:
    """The report's title and blocks, section by section, each section per result file."""
    sources = lay.sources
    multi = lay.multi_source
    first_env = sources[0].run.environment
    title = f"chanbench report: {scenario_names(sources)}, {when(first_env.started_at)}"
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
    if any(churn.table(s.run) or churn.staircase_table(s.run) for s in sources):
        section("Churn: does the server give back what connections took?", churn_blocks)
    if any(profiles.has_profiles(s) for s in sources):
        section(
            "Profiles: where the server's CPU goes", lambda s: profiles.blocks(s, charts, multi)
        )
    charts = [c for c in charts if not c.name.startswith(profiles.FLAME)]  # drawn above
    section("Methodology", lambda s: [Items(methodology_items(s))])
    section("Versions", version_blocks)
    blocks.append(Heading(2, "Charts"))
    if charts:
        blocks.append(
            Paragraph(
                "Markers are medians over repeats of each repeat's value; bars span the "
                "minimum to the maximum. The spectrum charts merge every repeat's histogram."
                + (
                    ""
                    if all(s.run.target for s in sources)
                    else " Colour is the consumer, line style the layer"
                    + (" and result file" if multi else "")
                    + "."
                )
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
    if all(p.point.churn for p in source.run.points):  # no throughput: the verdicts are it
        churn_items = churn.summary_items(source.run)
        return [Items(churn_items), Paragraph("Caveats:"), Items(caveat_items(source))]
    items = summary_items(lay, source)
    return [
        Items(items)
        if items
        else Paragraph(TARGET_SUMMARY.format(target=source.run.target))
        if source.run.target
        else Paragraph(
            "No sync/async pair at the same load to compare; the table below has every point."
        ),
        results_table(lay, source),
        Paragraph(TABLE_CAPTION),
        *([Items(causes)] if (causes := loss_causes(source.run.points)) else []),
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


def churn_blocks(source: Source) -> list[Block]:
    found, stairs = churn.table(source.run), churn.staircase_table(source.run)
    blocks: list[Block] = []
    if found is not None:
        blocks += [Table(*found), Paragraph(churn.CAPTION), Items(churn.notes(source.run))]
    if (held := churn.survivor_table(source.run)) is not None:
        blocks += [Table(*held), Paragraph(churn.SURVIVOR_CAPTION)]
    if stairs is not None:
        blocks += [Table(*stairs), Items(churn.staircase_lines(source.run))]
    return blocks or [Paragraph("No churn point.")]


# A --target is one server: there is nothing to set against it, and nothing known of it
# but what was measured.
TARGET_SUMMARY = (
    "The target {target}: one server that chanbench did not start, so no consumer is set "
    "against another here; its consumer, channel layer, server kind and versions are its "
    "own and not known to chanbench. The table below has what was measured at every point."
)


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


# The results table's metric columns after throughput and its range (the delivered-only
# p99 when anything was lost).
RESULT_COLUMNS = (
    "p50_ms",
    "p99_ms",
    "p99_9_ms",
    "p99_delivered_ms",
    "threads",
    "cpu_percent",
    "loop_cpu_percent",
    "other_threads_cpu_percent",
    "loss_ratio",
)


def results_table(lay: Layout, source: Source) -> Table:
    """The points of ``source``; a delivered-only p99 column when anything was lost."""
    lossy = _lossy(source)
    columns = [METRICS[n] for n in RESULT_COLUMNS if lossy or n != "p99_delivered_ms"]
    throughput = METRICS["delivered_per_s"]
    headers = ["point", throughput.label, "range", *(m.label for m in columns), "repeats"]
    rows = []
    for line in (ln for ln in lay.lines if ln.source is source):
        for x, point in line.points:
            medians = point.medians()
            rng = median_range(point, throughput.name)
            rows.append(
                [
                    " ".join(
                        filter(None, (line.consumer, line.layer, lay.point_name(x, line.extra)))
                    ),
                    throughput.format(medians[throughput.name]),
                    "-" if rng is None else "-".join(map(throughput.format, rng[1:])),
                    *(m.format(medians[m.name]) for m in columns),
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
    if run.target:
        items.append(
            "chanbench did not start the target server: it served every repeat without a "
            "restart, so what one repeat leaves behind (open connections, queued "
            "messages) can reach the next, and on this machine the load generator "
            "competes with it for CPU."
        )
    else:
        items.append(
            f"Clients and server ran on the same machine ({env.cpu_count or '?'} "
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
        why = "chanbench does not calibrate for a --target" if run.target else "--no-calibrate"
        items.append(
            f"No calibration ({why}): the load generator's ceiling is unknown, so a client "
            "limit cannot be ruled out."
        )
    items += cluster_items(run)
    if run.partial:
        items.append("The run was interrupted: points or repeats are missing.")
    if env.git.dirty:
        items.append(
            "The working tree had uncommitted changes: the commit alone does not "
            "reproduce this run."
        )
    return items
