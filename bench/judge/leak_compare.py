"""Churn verdicts in a comparison: a counter ``flat`` in base and a ``leak`` in new is a
regression (``compare``'s exit 1), and memory per connection-cycle is set side by side
with each side's interval, as is a staircase's memory per idle connection. Judged on
the verdicts each run reached, not re-fitted: both used the same rule (``judge.leaks``)
on their own cycles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.results.churn import COUNTERS, Churn, Staircase, Verdict
from bench.results.model import PointResult


@dataclass
class LeakChange:
    """One counter of one matched churn point: base's verdict against new's."""

    point: str
    metric: str
    base: Verdict
    new: Verdict
    # Each side's connections per cycle (a soak's: per sample), for the interval per
    # connection, and what that is per (``Churn.per``).
    base_clients: float = 0
    new_clients: float = 0
    per: str = "connection-cycle"

    @property
    def regressed(self) -> bool:
        return self.base.verdict == "flat" and self.new.verdict == "leak"

    @property
    def changed(self) -> bool:
        return self.base.verdict != self.new.verdict


def _churn(point: PointResult) -> Churn | None:
    return next((r.churn for r in point.ok_repeats() if r.churn and r.churn.verdicts), None)


def leak_changes(
    pairs: Sequence[tuple[PointResult, PointResult]], labels: Sequence[str]
) -> list[LeakChange]:
    """Every counter judged on both sides of every matched churn point."""
    out = []
    for label, (b, n) in zip(labels, pairs, strict=True):
        base, new = _churn(b), _churn(n)
        if base is None or new is None:
            continue
        for metric in COUNTERS:
            vb, vn = base.verdict(metric), new.verdict(metric)
            if vb is not None and vn is not None:
                out.append(
                    LeakChange(label, metric, vb, vn, base.connections, new.connections, new.per)
                )
    return out


def per_connection(verdict: Verdict, clients: float) -> str:
    """``64.0 KiB (57.6 to 70.4)``: per connection-cycle, with its 95% interval."""
    if verdict.per_connection is None:
        return "-"
    scale, unit = (1024, " KiB") if verdict.unit == "bytes" else (1, "")
    text = f"{verdict.per_connection / scale:,.1f}{unit}"
    if clients and verdict.ci_low is not None and verdict.ci_high is not None:
        low, high = verdict.ci_low / clients / scale, verdict.ci_high / clients / scale
        text += f" ({low:,.1f} to {high:,.1f})"
    return text


def lines(changes: Sequence[LeakChange]) -> list[str]:
    """One line per counter whose verdict changed, and memory per connection always."""
    out = []
    for c in changes:
        label = COUNTERS[c.metric].label
        if c.changed or c.metric == "rss_bytes":
            flag = " REGRESSION" if c.regressed else ""
            out.append(
                f"{c.point} {label}: {c.base.verdict} -> {c.new.verdict}{flag}; per "
                f"{c.per} {per_connection(c.base, c.base_clients)} (base), "
                f"{per_connection(c.new, c.new_clients)} (new)"
            )
    return out


def _stairs(point: PointResult) -> Staircase | None:
    return next((r.staircase for r in point.ok_repeats() if r.staircase), None)


def _kib(stairs: Staircase) -> str:
    if stairs.rss_per_connection is None or stairs.ci_low is None or stairs.ci_high is None:
        return "-"
    per, low, high = (v / 1024 for v in (stairs.rss_per_connection, stairs.ci_low, stairs.ci_high))
    return f"{per:,.1f} KiB ({low:,.1f} to {high:,.1f})"


def staircase_notes(
    pairs: Sequence[tuple[PointResult, PointResult]], labels: Sequence[str]
) -> list[str]:
    """RSS per idle connection, base and new, with their intervals (never gated)."""
    out = []
    for label, (b, n) in zip(labels, pairs, strict=True):
        base, new = _stairs(b), _stairs(n)
        if base is not None and new is not None:
            out.append(f"{label}: RSS per idle connection {_kib(base)} (base), {_kib(new)} (new)")
    return out
