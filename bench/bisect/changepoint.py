"""Where a series of per-commit medians steps: binary segmentation on the logarithms.

Why this method: a performance history is a piecewise-constant series (a level that a
commit moves and the next commits keep) with noise around it, and what matters is where
each level starts. asv fits the steps with an L1 penalty; Otava (E-Divisive) splits where
the distributions on either side differ most and keeps a split that a permutation test
supports. Both need more points and repeats than a history of a few dozen commits, each
measured a handful of times on a shared machine, can give their tests. This does the
split and leaves the test to a measurement: at each step it splits the segment where
the two sides' means of log(value) are furthest apart, weighted by sqrt(nl * nr / n)
(the CUSUM statistic, so a split near an end needs a bigger step), and keeps it when
the two sides' medians differ by the threshold or more; then it splits both sides
again. Logarithms make a halving and a doubling the same size. Every split it keeps is
only a candidate: ``history`` confirms it by the interleaved A/B measurement of the two
commits either side of it, with compare's rule (threshold and Mann-Whitney U), and drops
the ones that measurement does not bear out. Pure: no I/O.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def change_points(values: Sequence[float], threshold: float) -> list[int]:
    """The indexes ``i`` where a new level starts (between ``values[i - 1]`` and
    ``values[i]``), in order; non-positive values (nothing measured) are left out of the
    fit and never start a level."""
    kept = [i for i, v in enumerate(values) if v > 0 and math.isfinite(v)]
    logs = [math.log(values[i]) for i in kept]
    found: list[int] = []
    _split(logs, 0, len(logs), math.log1p(threshold), found)
    return sorted(kept[i] for i in found)


def _split(logs: list[float], start: int, end: int, step: float, found: list[int]) -> None:
    n = end - start
    if n < 2:
        return
    best, where = 0.0, None
    for i in range(start + 1, end):
        left, right = logs[start:i], logs[i:end]
        weight = math.sqrt(len(left) * len(right) / n)
        score = abs(statistics.fmean(left) - statistics.fmean(right)) * weight
        if score > best:
            best, where = score, i
    if where is None:
        return
    size = abs(statistics.median(logs[start:where]) - statistics.median(logs[where:end]))
    if size < step:
        return
    found.append(where)
    _split(logs, start, where, step, found)
    _split(logs, where, end, step, found)
