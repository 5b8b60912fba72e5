"""Profiles in the report: where the server's CPU went, point by point, what changed
between two points, and what the profiler itself cost.

For each profiled point: its merged collapsed stacks (``bench.profiles``), drawn as a
flame graph (``charts.flame``), and the top frames by own and total time in each class
of thread. For each pair of profiled points that differ in one key (``consumer`` sync
against async, ``env`` A against B, ``workload`` chat against cpu): the differential,
the frames that gained or lost the most share of the samples. For each pair that differs
only in ``profile`` (``--set profile=none,cpu``): py-spy's cost on throughput, judged by
the rule ``compare`` uses.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bench.profiles import analysis, stacks
from bench.report.blocks import Block, Figure, Heading, Paragraph, Table
from bench.report.layout import Chart, Source
from bench.report.summary import verdict_word
from bench.results import store
from bench.results.metrics import METRICS
from bench.results.model import PointResult
from bench.results.units import num
from bench.scenario.model import KEYS

# Rows per table: the frames a reader looks at before opening the flame graph.
TOP_FRAMES = 5
TOP_CHANGES = 12
# Pairs set against each other at most: a matrix of 20 profiled points has 190.
MAX_PAIRS = 8


FLAME = "flame-"


def flame_name(source: Source, label: str, multi: bool) -> str:
    """The flame graph's file name (without suffix) for a point's label."""
    text = f"{source.label}-{label}" if multi else label
    return FLAME + (re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "point")


@dataclass(frozen=True)
class Profiled:
    """A point with its merged profile (busy samples, and the idle ones apart)."""

    point: PointResult
    busy: stacks.Stacks
    idle: stacks.Stacks
    file: str


def profiled_points(source: Source) -> list[Profiled]:
    """The points of ``source`` with a profile on file, in the run's order."""
    out = []
    for point in source.run.points:
        files = [r.profile.point_file for r in point.repeats if r.profile and r.profile.point_file]
        if not files or source.path is None:
            continue
        text = store.read_beside(source.path, files[-1])  # rewritten after each repeat
        if text:
            busy, idle = stacks.split_idle(stacks.parse(text))
            out.append(Profiled(point, busy, idle, files[-1]))
    return out


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def frame_rows(profile: Profiled) -> list[list[str]]:
    """Per thread class: its share of the busy samples, and its top frames by own time
    (with their total), each a share of all the point's busy samples."""
    whole = profile.busy.total()
    rows = []
    for name, part in analysis.by_thread_class(profile.busy).items():
        for i, frame in enumerate(analysis.top_frames(part, TOP_FRAMES)):
            rows.append(
                [
                    f"{name} ({pct(part.total(), whole)})" if i == 0 else "",
                    frame.frame,
                    pct(frame.own, whole),
                    pct(frame.total, whole),
                ]
            )
    return rows


FRAME_HEADERS = ["thread (share of busy samples)", "frame", "own", "total"]


def differing_key(a: PointResult, b: PointResult) -> str | None:
    """The one key (``profile`` aside) in which two points differ, or None."""
    keys = [k for k in KEYS if k != "profile" and a.point.value(k) != b.point.value(k)]
    return keys[0] if len(keys) == 1 else None


def pairs(profiles: list[Profiled]) -> list[tuple[str, Profiled, Profiled]]:
    """Profiled points that differ in one key, in the run's order, at most ``MAX_PAIRS``."""
    out = []
    for a, b in itertools.combinations(profiles, 2):
        key = differing_key(a.point, b.point)
        if key is not None:
            out.append((key, a, b))
    return out[:MAX_PAIRS]


def change_rows(
    a: stacks.Stacks, b: stacks.Stacks, by: str = "own", count: int = TOP_CHANGES
) -> list[list[str]]:
    """The ``count`` largest changes of ``by`` share from busy samples ``a`` to ``b``."""
    rows = []
    for c in analysis.differential(a, b, by)[:count]:
        change = c.own_change if by == "own" else c.total_change
        rows.append(
            [
                c.frame,
                f"{change * 100:+.1f}",
                f"{100 * c.own_a:.1f}% -> {100 * c.own_b:.1f}%",
                f"{100 * c.total_a:.1f}% -> {100 * c.total_b:.1f}%",
            ]
        )
    return rows


CHANGE_HEADERS = ["frame", "change (points)", "own share", "total share"]


@dataclass(frozen=True)
class Cost:
    """A point measured without and with the profiler, interleaved."""

    name: str
    without: PointResult
    with_: PointResult

    def row(self) -> list[str]:
        metric = METRICS["delivered_per_s"]
        base, new = self.without.values(metric.name), self.with_.values(metric.name)
        judgement = metric.judge(base, new, {})
        spy = [
            r.profile.profiler_cpu_s / r.profile.window_s
            for r in self.with_.ok_repeats()
            if r.profile and r.profile.kind == "cpu" and r.profile.window_s
        ]
        spy_pct = 100 * sorted(spy)[len(spy) // 2] if spy else None
        return [
            self.name,
            f"{num(self.without.median(metric.name), ',.0f')} -> "
            f"{num(self.with_.median(metric.name), ',.0f')}",
            num(judgement.ratio, ".2f", "x"),
            f"{judgement.p:.2g}" if judgement.p is not None else "-",
            verdict_word(judgement, "faster profiled", "slower profiled"),
            num(spy_pct, ".0f", "%"),
        ]


COST_HEADERS = ["point", "msg/s off -> on", "ratio", "p", "verdict", "py-spy CPU"]


def costs(source: Source) -> list[Cost]:
    """Points measured with ``profile = none`` and again profiled, all else equal."""
    out = []
    points = source.run.points
    for a, b in itertools.permutations(points, 2):
        if a.point.profile == "none" and b.point.profile != "none":
            keys = [k for k in KEYS if a.point.value(k) != b.point.value(k)]
            if keys == ["profile"]:
                out.append(Cost(a.label.replace("profile=none", "").strip(), a, b))
    return out


INTRO = (
    "Sampled from outside by py-spy at {rate} Hz during each measured window, every "
    "process of the server's tree and every thread; samples of a thread waiting (asleep, "
    "or a leaf that is a wait: a selector's select, a Condition's wait, an executor "
    "thread's empty queue) are left out, so shares are of the busy samples. Own: the "
    "frame was running; total: it was on the stack. Frames are functions (line numbers "
    "dropped). The stacks are kept beside the result (cpu.folded per point: open it in "
    "speedscope or any flame graph tool). py-spy runs on the same machine: the figures of "
    "profiled points carry its cost{cost}."
)


def blocks(source: Source, charts: Sequence[Chart], multi: bool) -> list[Block]:
    """The report's section on profiles: py-spy's cost, each point's frames and flame
    graph, and the differentials."""
    profiles = profiled_points(source)
    cost = costs(source)
    rates = sorted({p.point.point.profile_rate for p in profiles})
    where = " (measured below)" if cost else " (measure it with --set profile=none,cpu)"
    out: list[Block] = []
    if profiles:
        out.append(Paragraph(INTRO.format(rate=", ".join(map(str, rates)), cost=where)))
    if cost:
        out.append(Heading(3, "The profiler's cost"))
        out.append(Table(COST_HEADERS, [c.row() for c in cost]))
        out.append(
            Paragraph(
                "Throughput without and with the profiler, medians over interleaved "
                "repeats, judged by chanbench compare's rule (10% and Mann-Whitney U at "
                "p < 0.05). py-spy CPU: its processes' CPU over the window, % of a core."
            )
        )
    out += memory_blocks(source)
    drawn = {c.name: c for c in charts}
    for profile in profiles:
        label = profile.point.label
        out.append(Heading(3, f"Where the CPU goes: {label}"))
        out.append(Table(FRAME_HEADERS, frame_rows(profile)))
        idle, busy = profile.idle.total(), profile.busy.total()
        out.append(
            Paragraph(
                f"{busy:,} busy samples over {len(profile.point.ok_repeats())} repeats; "
                f"{idle:,} more were a thread waiting ({pct(idle, idle + busy)})."
            )
        )
        chart = drawn.get(flame_name(source, label, multi))
        if chart is not None:
            out.append(Figure(chart))
    for key, a, b in pairs(profiles):
        names = f"{a.point.label} -> {b.point.label}"
        out.append(Heading(3, f"What changed with {key}: {names}"))
        for by, what in CHANGE_ORDERS:
            out.append(Paragraph(what))
            out.append(Table(CHANGE_HEADERS, change_rows(a.busy, b.busy, by)))
    return out


# The differential twice: the calls that took a larger or smaller part of the time (on
# the stack: a new hop names its caller), then the code that ran more or less.
CHANGE_ORDERS = (
    (
        "total",
        "By total share (the frame on the stack at all), the largest change first, gained "
        "or lost, in percentage points of the busy samples:",
    ),
    ("own", "By own share (the frame running):"),
)


def has_profiles(source: Source) -> bool:
    return any(r.profile for p in source.run.points for r in p.repeats) or bool(costs(source))


MEMORY_INTRO = (
    "profile = memory ran each server's command under memray run (Python allocators "
    "traced, forked children followed), from its start to its stop: one capture file per "
    "repeat and process, beside the result. Open one with memray flamegraph FILE (or "
    "memray summary, memray table; --leaks for what was still allocated at the end). "
    "Tracing every allocation slows the server: these points' throughput and latency "
    "describe the server under memray, not the server (its cost is measured above when "
    "the run had profile = none,memory)."
)


def memory_blocks(source: Source) -> list[Block]:
    """The memory profiles' files, point by point, and how to read them."""
    rows = [
        [point.label, str(rep.repeat), f"{p.pid} {p.name}", p.file or "-"]
        for point in source.run.points
        for rep in point.repeats
        if rep.profile and rep.profile.kind == "memory"
        for p in rep.profile.processes
    ]
    if not rows:
        return []
    return [
        Heading(3, "Memory profiles (memray)"),
        Paragraph(MEMORY_INTRO),
        Table(["point", "repeat", "process", "capture file"], rows),
    ]
