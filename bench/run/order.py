"""The order a run measures in: points that differ only in an interleaved key form a
step, and a step's repeats alternate between its points (ABBA), so that drift on a shared
machine is charged to every side alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

from bench.scenario import INTERLEAVED, Point

T = TypeVar("T")


def steps(points: list[Point]) -> list[list[Point]]:
    """Points equal but for the interleaved keys: measured together, repeat by repeat."""
    out: dict[Point, list[Point]] = {}
    unset = {key: Point().value(key) for key in INTERLEAVED}
    for point in points:
        out.setdefault(replace(point, **unset), []).append(point)
    return list(out.values())


def measuring_order(step: Sequence[T], repeat: int) -> list[T]:
    """The order a step's points are measured in at ``repeat``: A B, then B A, and so on
    (ABBA), so that drift on a shared machine is charged to every side alike."""
    return list(step) if repeat % 2 == 0 else list(reversed(step))
