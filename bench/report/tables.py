"""Plain-text tables for the terminal (and Markdown for CI comments)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench.judge import stats
from bench.report.layout import line_names
from bench.report.losses import loss_causes
from bench.report.summary import short_verdict
from bench.results.metrics import METRICS
from bench.results.model import PointResult, Run, varying_keys
from bench.results.units import LOST, ms, num


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
    """Right-aligned columns (the first left-aligned), or a Markdown table."""
    if markdown:
        lines = [
            "| " + " | ".join(headers) + " |",
            "|" + "|".join(":--" if i == 0 else "--:" for i in range(len(headers))) + "|",
        ]
        lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    return "\n".join([fmt(headers), "  ".join("-" * w for w in widths), *map(fmt, rows)])


# Each consumer's columns in ``run_table``, the first headed by the consumer.
RUN_COLUMNS = ("delivered_per_s", "p50_ms", "p99_ms", "threads", "cpu_percent", "loss_ratio")


def run_table(result: Run, markdown: bool = False) -> str:
    """Sync beside async at each point: throughput, latency, threads, CPU, loss (a
    --target's points in one column group: it is one server)."""
    # Nothing varies but the consumer: name the load by its clients, as the report does.
    varying = varying_keys([p.point for p in result.points], exclude=("consumer",)) or ["clients"]
    groups: dict[tuple[Any, ...], dict[str, PointResult]] = {}
    for point in result.points:
        key = tuple(point.point.value(k) for k in varying)
        groups.setdefault(key, {})[line_names(result, point)[0]] = point
    consumers = sorted(
        {line_names(result, p)[0] for p in result.points},
        key=lambda c: (c != "sync", c != "async", c),
    )
    both = {"sync", "async"} <= set(consumers)
    headers = [", ".join(varying) or "point"]
    for consumer in consumers:
        first, *rest = (METRICS[name] for name in RUN_COLUMNS)
        headers += [f"{consumer} {first.unit}", *(m.label for m in rest)]
    if both:
        headers.append("async/sync")
    rows, verdicts = [], []
    for key, by_consumer in groups.items():
        row = [" ".join(f"{k}={v}" for k, v in zip(varying, key, strict=True)) or "-"]
        medians = {c: p.medians() for c, p in by_consumer.items()}
        for consumer in consumers:
            m = medians.get(consumer)
            row += [METRICS[name].format(None if m is None else m[name]) for name in RUN_COLUMNS]
        if both:
            r = stats.ratio(
                (medians.get("async") or {}).get("delivered_per_s"),
                (medians.get("sync") or {}).get("delivered_per_s"),
            )
            row.append(num(r, ".2f", "x"))
        rows.append(row)
        if {"sync", "async"} <= by_consumer.keys():
            verdict = short_verdict(by_consumer["sync"], by_consumer["async"])
            verdicts.append(f"async against sync at {row[0]}: {verdict}")
    notes = [PERCENTILE_CAPTION, *lost_notes(result.points), *loss_causes(result.points)]
    verdicts += [""] if verdicts else []
    return "\n".join([render(headers, rows, markdown), "", *verdicts, *notes])


# Which p99 a table shows: per repeat (for significance), not the merged histogram.
PERCENTILE_CAPTION = (
    "p50, p99: median over repeats of each repeat's percentile, every expected delivery "
    f"counted; {LOST}: that percentile is a message that never arrived, not even in the drain"
)


def lost_notes(points: Sequence[PointResult]) -> list[str]:
    """A line per point whose p50 or p99 is lost: how much was lost, and the percentile of
    the messages that did arrive, for what it is worth."""
    lines = []
    for point in points:
        lost = [
            name
            for name, metric in (("p50", "p50_ms"), ("p99", "p99_ms"))
            if (value := point.median(metric)) is not None and math.isinf(value)
        ]
        if not lost:
            continue
        label = point.label or point.id
        loss = point.median("loss_ratio")
        delivered = ", ".join(
            f"{name} {ms(point.median(f'{name}_delivered_ms'))} ms" for name in ("p50", "p99")
        )
        lines.append(
            f"{label}: {' and '.join(lost)} {LOST}: {num(loss, '.2%')} of expected deliveries "
            f"lost (median over repeats); of the delivered messages alone: {delivered}"
        )
    return lines


def saturation_lines(result: Run) -> list[str]:
    """One line per searched group: the highest rate that held the bounds."""
    saturation = result.saturation
    if not saturation:
        return []
    bounds = saturation.bounds
    lines = [f"saturation (p99 <= {bounds.p99_ms:g} ms, loss <= {bounds.loss:.2%}):"]
    for group in saturation.groups:
        if group.highest_rate is None:
            held = f"below the lowest rate tried ({group.broken_at:g} msg/s per client)"
        else:
            held = f"{group.highest_rate:g} msg/s per client"
        broke = (
            f"; broke at {group.broken_at:g}: {group.reason}"
            if group.broken_at is not None
            else "; no rate tried broke the bounds"
        )
        lines.append(f"  {group.group}: highest sustained rate {held}{broke}")
    return lines
