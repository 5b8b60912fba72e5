"""Where a series of per-commit medians steps: binary segmentation on the logarithms.

Why this method: a performance history is a piecewise-constant series (a level that a
commit moves and the next commits keep) with noise around it, and what matters is where
each level starts. asv fits the steps with an L1 penalty; Otava (E-Divisive) splits where
the distributions on either side differ most and keeps a split that a permutation test
supports. Both need more points and repeats than a history of a few dozen commits, each
measured a handful of times on a shared machine, can give their tests. This does the
split and leaves the test to a measurement: at each step it splits the segment where
the two sides' means of log(value) are furthest apart, weighted by sqrt(nl * nr / n)
(the CUSUM statistic, so a split near an end needs a bigger step), and keeps it when the
two sides' medians differ by the threshold or more AND the step stands out of the
series' noise (the difference of the means over noise * sqrt(1/nl + 1/nr) at least
``T_MIN``); then it splits both sides again. The noise is read from the differences
between neighbouring commits (their median absolute value / 0.954: the standard
deviation, for normal noise), which a few steps among many commits barely move; in a
series whose every commit differs from the last by 30% (a busy shared machine), only a
large or lasting step stands out. Logarithms make a halving and a doubling the same
size. Every split kept is only a candidate: ``history`` confirms it by the interleaved
A/B measurement of the two commits either side of it, with compare's rule (threshold
and Mann-Whitney U), and drops the ones that measurement does not bear out.
Pure: no I/O.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence

# How many noise units a step must be to be a candidate (p < 0.003 for normal noise of a
# known size): each candidate costs a run to confirm.
T_MIN = 3.0
# Fewer differences between neighbours than this tell nothing of the noise: the threshold
# alone decides.
NOISE_MIN_DIFFS = 3


def change_points(values: Sequence[float], threshold: float) -> list[int]:
    """The indexes ``i`` where a new level starts (between ``values[i - 1]`` and
    ``values[i]``), in order; non-positive values (nothing measured) are left out of the
    fit and never start a level."""
    kept = [i for i, v in enumerate(values) if v > 0 and math.isfinite(v)]
    logs = [math.log(values[i]) for i in kept]
    found: list[int] = []
    _split(logs, 0, len(logs), math.log1p(threshold), noise(logs), found)
    return sorted(kept[i] for i in found)


def noise(logs: Sequence[float]) -> float:
    """The series' noise (a standard deviation of log values) from neighbours'
    differences; 0 when too few to say."""
    diffs = [abs(b - a) for a, b in itertools.pairwise(logs)]
    if len(diffs) < NOISE_MIN_DIFFS:
        return 0.0
    return statistics.median(diffs) / (0.6745 * math.sqrt(2))


def _split(
    logs: list[float], start: int, end: int, step: float, sigma: float, found: list[int]
) -> None:
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
    left, right = logs[start:where], logs[where:end]
    if abs(statistics.median(left) - statistics.median(right)) < step:
        return
    apart = abs(statistics.fmean(left) - statistics.fmean(right))
    if sigma and apart < T_MIN * sigma * math.sqrt(1 / len(left) + 1 / len(right)):
        return
    found.append(where)
    _split(logs, start, where, step, sigma, found)
    _split(logs, where, end, step, sigma, found)
