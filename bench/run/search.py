"""The saturation search: step ``rate`` up, per group, until p99 latency or loss breaks
a bound; report the highest rate each group sustained.

A group is a consumer with every varying key but ``rate``. Its steps are measured in
ascending rate (``order``: the scenario may list rates in any order), and once a group
breaks its bounds its higher rates are skipped: past saturation they only cost time.

A step is decided on every one of its repeats, not on their medians: it holds the bounds
only when every repeat succeeded, lost at most the loss bound, and kept its p99 (over
every expected delivery, a lost message counting as +inf) within the latency bound. One
repeat that broke is a rate the group did not sustain every time. The highest sustained
rate is the highest rate that held below the lowest rate that broke, whatever order the
steps ran in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.results.model import PointResult, Repeat
from bench.results.saturation import Saturation, SearchGroup, StepVerdict
from bench.results.units import LOST
from bench.scenario import Point, Search


class SaturationSearch:
    """The search's state across the run's steps."""

    def __init__(self, bounds: Search, varying: list[str]) -> None:
        self.bounds = bounds
        self.keys = [k for k in varying if k != "rate"]
        self.groups: dict[str, SearchGroup] = {}
        # The rates each group held, by group name.
        self.held: dict[str, list[float]] = {}

    def _group(self, point: Point) -> SearchGroup:
        name = point.label(self.keys)
        return self.groups.setdefault(name, SearchGroup(name, point.consumer))

    def order(self, points: Sequence[Point]) -> list[Point]:
        """``points`` in ascending rate, otherwise in the order given (a stable sort), so
        that each group steps up and a broken rate skips every higher one. The runner
        measures points in this order."""
        return sorted(points, key=lambda p: p.rate)

    def skips(self, point: Point) -> bool:
        """Whether ``point`` lies at or above a rate at which its group already broke."""
        broken_at = self._group(point).broken_at
        return broken_at is not None and point.rate >= broken_at

    def repeat_broken(self, rep: Repeat) -> str | None:
        """Why one repeat broke the bounds, or None: failed, loss, then p99."""
        if not rep.ok:
            return f"failed ({rep.reason})" if rep.reason else "failed"
        loss = rep.loss_ratio
        if loss is not None and loss > self.bounds.loss:
            return f"loss {loss:.3%} > {self.bounds.loss:.3%}"
        p99 = rep.value("p99_ms")
        if p99 is None:
            return "no latency"
        if math.isinf(p99):
            return f"p99 {LOST} > {self.bounds.p99_ms:g} ms"
        if p99 > self.bounds.p99_ms:
            return f"p99 {p99:.1f} ms > {self.bounds.p99_ms:g} ms"
        return None

    def broken(self, record: PointResult) -> str | None:
        """Why a step broke the bounds, or None: it holds only if every repeat does."""
        if not record.repeats:
            return "failed (no repeat)"
        reasons = [(rep.repeat, self.repeat_broken(rep)) for rep in record.repeats]
        broke = [(i, why) for i, why in reasons if why is not None]
        if not broke:
            return None
        i, why = broke[0]
        return f"repeat {i}: {why}" + (
            f" ({len(broke)} of {len(reasons)} repeats broke)" if len(reasons) > 1 else ""
        )

    def record(self, point: Point, record: PointResult) -> None:
        """Judge a finished step and mark it in ``record``."""
        reason = self.broken(record)
        record.search = StepVerdict(within_bounds=reason is None, reason=reason)
        group = self._group(point)
        held = self.held.setdefault(group.group, [])
        if reason is None:
            held.append(point.rate)
        elif group.broken_at is None or point.rate < group.broken_at:
            group.broken_at, group.reason = point.rate, reason
        # The highest held rate below the lowest broken one.
        below = [r for r in held if group.broken_at is None or r < group.broken_at]
        group.highest_rate = max(below, default=None)

    def outcome(self) -> Saturation:
        return Saturation(
            bounds=self.bounds,
            rule="every repeat within both bounds",
            groups=list(self.groups.values()),
        )
