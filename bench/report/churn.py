"""The report's churn section: each churn point's verdict per counter, with its slope,
its bytes (or fds, tasks) per connection and its interval; what could not be read, and
how long each cycle settled; with ``profile = memory``, the lines holding what the cycles
left (memray's leak view per cycle); each staircase's steps and memory per idle
connection. Words and tables only; ``charts.churn`` draws the lines."""

from __future__ import annotations

import statistics
from dataclasses import replace

from bench.results.churn import COUNTERS, Churn, Staircase, Verdict
from bench.results.model import PointResult, Run
from bench.results.profile import Survivor
from bench.results.units import ms

# A staircase step's handshake times shown (of what ``Step.connect_ms`` keeps).
CONNECT_PERCENTILES = ("p50", "p90", "p99", "max")

CAPTION = (
    "Each counter is read after every cycle (connect the clients, exchange, hang up, "
    "settle), in one server process. slope: Theil-Sen, per cycle, over the cycles after "
    "the warm-up; interval: 95%, moving-block bootstrap. Memory and allocation counters "
    "are a leak when the whole interval lies above the tolerance, flat when inside "
    "+-tolerance; counts that should come back (fds, tasks, a layer's channels) are a "
    "leak when every delta after the warm-up is at least 1 (CPython's -R rule). "
    "docs/leaks.md says how the tolerance was measured. A soak's counters are read every "
    "sample_s during one steady load, and judged the same way over its samples; per "
    "connection is then per reconnect (or per connection held, where none reconnect)."
)
HEADERS = ["point", "counter", "verdict", "slope / {step}", "per connection", "95% interval"]


def churns(run: Run) -> list[tuple[PointResult, Churn]]:
    """Each churn point with its first repeat that measured cycles."""
    out = []
    for point in run.points:
        found = next((r.churn for r in point.ok_repeats() if r.churn and r.churn.cycles), None)
        if found is not None:
            out.append((point, found))
    return out


def amount(value: float | None, unit: str) -> str:
    """``64.0 KiB`` for bytes, ``1.0`` for counts, ``-`` for nothing."""
    if value is None:
        return "-"
    if unit == "bytes":
        return f"{value / 1024:,.1f} KiB"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"


def verdict_text(verdict: Verdict, step: str = "cycle") -> str:
    if verdict.verdict == "inconclusive":
        more = f" ({verdict.more_cycles} more {step}s)" if verdict.more_cycles else ""
        return f"inconclusive{more}"
    return verdict.verdict


# What the terminal's table keeps when brief: memory always, any other counter unless flat.
ALWAYS_SHOWN = ("rss_bytes", "uss_bytes")


def table(run: Run, brief: bool = False) -> tuple[list[str], list[list[str]]] | None:
    """Every churn point's verdicts; ``brief``: memory and whatever is not flat."""
    rows, steps = [], []
    for point, churn in churns(run):
        steps += [] if churn.step in steps else [churn.step]
        for v in churn.verdicts:
            if brief and v.metric not in ALWAYS_SHOWN and v.verdict == "flat":
                continue
            interval = (
                f"{amount(v.ci_low, v.unit)} to {amount(v.ci_high, v.unit)}"
                if v.ci_low is not None
                else "-"
            )
            rows.append(
                [
                    point.label,
                    COUNTERS[v.metric].label,
                    verdict_text(v, churn.step),
                    amount(v.slope_per_cycle, v.unit),
                    amount(v.per_connection, v.unit),
                    interval,
                ]
            )
    headers = [h.format(step=" or ".join(steps)) for h in HEADERS]
    return (headers, rows) if rows else None


def notes(run: Run) -> list[str]:
    """Per churn point: its cycles and settle, and the counters it could not read."""
    out = []
    for point, churn in churns(run):
        line = f"{point.label}: " + (
            soak_line(point, churn)
            if churn.kind == "soak"
            else f"{len(churn.cycles)} cycles of {churn.clients} clients, "
            f"{churn.warmup_cycles} of them warm-up; settled {churn.settle_s:g} s after "
            f"each ({churn.settle_reason})"
        )
        why: dict[str, list[str]] = {}
        for name, reason in churn.unavailable.items():
            why.setdefault(reason, []).append(COUNTERS[name].label if name in COUNTERS else name)
        if why:
            line += "; not read: " + "; ".join(f"{', '.join(n)} ({r})" for r, n in why.items())
        out.append(line)
    return out


def soak_line(point: PointResult, churn: Churn) -> str:
    """A soak's samples, its load, and what per connection means there."""
    rate = point.point.reconnect_per_s
    load = f"{churn.clients} clients" + (f", {rate:g} reconnecting a second" if rate else "")
    pauses = [v for v in churn.series("probe_pause_ms") if v is not None]
    line = (
        f"{len(churn.cycles)} samples every {churn.sample_s or 0:g} s of one steady load "
        f"({load}), {churn.warmup_cycles} of them warm-up; per connection: per {churn.per} "
        f"({churn.connections_per_sample or 0:.1f} a sample)"
    )
    if pauses:
        line += (
            f"; each sample's probe held the server's event loop {statistics.median(pauses):.0f}"
            f" ms (median; max {max(pauses):.0f}), inside the load's latencies"
        )
    return line


SURVIVOR_HEADERS = ["point", "line", "function", "KiB / cycle", "allocations", "KiB by cycle"]
SURVIVOR_CAPTION = (
    "Where the memory is held (profile = memory: memray's leak view, cut at each cycle's "
    "end): the lines whose allocations, made during a cycle, were still alive when the "
    "last cycle ended, the heaviest first. KiB / cycle: the median over the judged "
    "cycles (a leak holds some every cycle, a cache filled once in one); allocations: "
    "over the judged cycles; the last cycle's column also holds what the server had not "
    "yet let go. memray traces every allocation and slows the server (on a churn of 20 "
    "clients, cycles 1.3x as long, 24 MiB more RSS, growing with what it records: "
    "docs/profiling.md): memory-profiled points are for finding where, not for "
    "throughput, and their RSS is not judged."
)


def survivors(run: Run) -> list[tuple[PointResult, Churn, list[Survivor]]]:
    """Each churn point's leak view, from its first repeat that has one."""
    out = []
    for point in run.points:
        for rep in point.ok_repeats():
            if rep.churn and rep.profile and rep.profile.survivors:
                out.append((point, rep.churn, rep.profile.survivors))
                break
    return out


def per_cycle_bytes(survivor: Survivor, warmup_cycles: int) -> float:
    return statistics.median(survivor.bytes_by_cycle[warmup_cycles:] or survivor.bytes_by_cycle)


def survivor_table(run: Run) -> tuple[list[str], list[list[str]]] | None:
    rows = [
        [
            point.label,
            s.where,
            s.function,
            amount(per_cycle_bytes(s, churn.warmup_cycles), "bytes"),
            f"{s.allocations:,}",
            " ".join(f"{b / 1024:,.0f}" for b in s.bytes_by_cycle),
        ]
        for point, churn, found in survivors(run)
        for s in found
    ]
    return (SURVIVOR_HEADERS, rows) if rows else None


def held_at(run: Run, point: PointResult) -> str | None:
    """``chat/faults.py:73 (connect, 640.0 KiB per cycle, memray)``: the line memray found
    holding the most per cycle, on ``point`` or on the point that differs from it in
    ``profile`` alone (``profile = none,memory``: the verdict from one, the line from the
    other); None without a leak view."""
    for p, churn, found in survivors(run):
        if p is point or replace(p.point, profile=point.point.profile) == point.point:
            top = found[0]
            size = amount(per_cycle_bytes(top, churn.warmup_cycles), "bytes")
            return f"{top.where} ({top.function}, {size} per cycle, memray)"
    return None


STAIRCASE_HEADERS = [
    "point",
    "idle connections",
    "connects/s",
    *(f"connect {p} ms" for p in CONNECT_PERCENTILES),
    "idle CPU %",
    "RSS MiB",
]


def staircases(run: Run) -> list[tuple[PointResult, Staircase]]:
    out = []
    for point in run.points:
        found = next((r.staircase for r in point.ok_repeats() if r.staircase), None)
        if found is not None and found.steps:
            out.append((point, found))
    return out


def staircase_table(run: Run) -> tuple[list[str], list[list[str]]] | None:
    rows = []
    for point, stairs in staircases(run):
        for step in stairs.steps:
            rss = step.counters.get("rss_bytes")
            rows.append(
                [
                    point.label,
                    f"{step.connections:,}",
                    "-" if step.connects_per_s is None else f"{step.connects_per_s:,.0f}",
                    *(ms(step.connect_ms.get(p)) for p in CONNECT_PERCENTILES),
                    "-" if step.idle_cpu_percent is None else f"{step.idle_cpu_percent:g}",
                    "-" if rss is None else f"{rss / 2**20:,.1f}",
                ]
            )
    return (STAIRCASE_HEADERS, rows) if rows else None


def staircase_lines(run: Run) -> list[str]:
    """Per staircase: KiB per idle connection with its interval, and where it stopped."""
    out = []
    for point, stairs in staircases(run):
        per = stairs.rss_per_connection
        why = stairs.unavailable.get("rss_bytes", "fewer than two steps read")
        line = f"{point.label}: " + (
            f"memory per idle connection not fitted ({why})"
            if per is None
            else f"{per / 1024:,.1f} KiB of RSS per idle connection (95% interval "
            f"{amount(stairs.ci_low, 'bytes')} to {amount(stairs.ci_high, 'bytes')})"
        )
        held = max(s.connections for s in stairs.steps)
        line += f"; held at most {held:,}"
        if stairs.stopped:
            line += f", stopped {stairs.stopped}"
        out.append(line)
    return out


def summary_items(run: Run) -> list[str]:
    """A churn run's summary: the counters found leaking, point by point, then the rest."""
    out, clean = [], []
    profiled = [p for p, _, _ in survivors(run)]
    for point, found in churns(run):
        leaking = [v for v in found.verdicts if v.verdict == "leak"]
        if not leaking:
            if point not in profiled:  # its memory was not judged: said below
                clean.append(point.label)
            continue
        what = ", ".join(
            f"{COUNTERS[v.metric].label} ({amount(v.per_connection, v.unit)} per {found.per})"
            for v in leaking
        )
        held = held_at(run, point)
        out.append(f"{point.label}: leak in {what}" + (f"; held at {held}" if held else ""))
    if clean:
        out.append(f"no counter leaking: {', '.join(clean)}")
    for point in profiled:  # its memory is not judged (bench/run/churn.py)
        out.append(
            f"{point.label}: memory not judged under memray; the most held per cycle at "
            f"{held_at(run, point)}"
        )
    out += [f"idle connections, {line}" for line in staircase_lines(run)]
    return out or ["No churn cycle, soak sample or staircase step was measured."]
