"""The saturation search: step ``rate`` up, per group, until p99 latency or loss breaks
a bound; report the highest rate each group sustained.

A group is a consumer with every varying key but ``rate``. Once a group breaks its
bounds, its higher rates are skipped: past saturation they only cost time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import stats
from bench.results import PointResult
from bench.scenario import Point, Search


@dataclass
class Group:
    group: str
    consumer: str
    highest_rate: float | None = None
    broken_at: float | None = None
    reason: str | None = None


class SaturationSearch:
    """The search's state across the run's steps."""

    def __init__(self, bounds: Search, varying: list[str]) -> None:
        self.bounds = bounds
        self.keys = [k for k in varying if k != "rate"]
        self.groups: dict[str, Group] = {}

    def _group(self, point: Point) -> Group:
        name = point.label(self.keys)
        return self.groups.setdefault(name, Group(name, point.consumer))

    def skips(self, point: Point) -> bool:
        """Whether ``point`` lies above a rate at which its group already broke."""
        return self._group(point).broken_at is not None

    def broken(self, record: PointResult) -> str | None:
        """Why a step broke the bounds (medians over its repeats), or None."""
        if not record.ok_repeats():
            return "failed"
        p99 = stats.median(record.values("p99_ms"))
        loss = stats.median(record.values("loss_ratio"))
        if p99 is None or p99 > self.bounds.p99_ms:
            return f"p99 {p99:.1f} ms > {self.bounds.p99_ms:g} ms" if p99 else "no latency"
        if loss is not None and loss > self.bounds.loss:
            return f"loss {loss:.3%} > {self.bounds.loss:.3%}"
        return None

    def record(self, point: Point, record: PointResult) -> None:
        """Judge a finished step and mark it in ``record``."""
        reason = self.broken(record)
        record.search = {"within_bounds": reason is None, "reason": reason}
        group = self._group(point)
        if reason is None:
            group.highest_rate = point.rate
        else:
            group.broken_at, group.reason = point.rate, reason

    def to_json(self) -> dict[str, Any]:
        return {"bounds": vars(self.bounds), "groups": [vars(g) for g in self.groups.values()]}
