"""A saturation search's records: each step's verdict, and each group's highest rate.
``bench.run.search`` decides them; the report and ``chanbench run``'s summary read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.results.record import Record
from bench.scenario.model import Search


@dataclass
class StepVerdict(Record):
    """A saturation search's step: whether every repeat held the bounds, and why not."""

    within_bounds: bool = False
    reason: str | None = None


@dataclass
class SearchGroup(Record):
    """One group of a saturation search (a consumer with every varying key but rate):
    the highest rate it sustained, the lowest it broke at, and why."""

    group: str = ""
    consumer: str = ""
    highest_rate: float | None = None
    broken_at: float | None = None
    reason: str | None = None


@dataclass
class Saturation(Record):
    """A saturation search's outcome: its bounds, its rule, each group's highest rate."""

    bounds: Search = field(default_factory=Search)
    rule: str = ""
    groups: list[SearchGroup] = field(default_factory=list)
