"""Leak verdicts: is a counter growing from cycle to cycle, and by how much? Pure: no I/O.

Two rules (``bench.results.churn.COUNTERS`` says which counter takes which):

- ``slope``: the Theil-Sen slope of the counter against the cycle index, over the cycles
  after the warm-up, with a 95% interval from a moving-block bootstrap (blocks of
  consecutive cycles, so that a drift shared by neighbouring cycles is resampled with
  them). ``leak`` when the whole interval lies above the tolerance, ``flat`` when it lies
  inside +-tolerance, ``inconclusive`` otherwise, with an estimate of how many more
  cycles would decide it.
- ``baseline``: a count that should return to where it was after every cycle (fds,
  tasks, a layer's channels): a leak when every delta after the warm-up is at least 1,
  CPython's ``regrtest -R`` rule for reference counts and memory blocks. Read during a
  load (a soak's samples), such a count never returns to its baseline (connections come
  and go while it is read), so the rule there is the slope's: a leak when its whole
  interval lies above zero, flat otherwise.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from bench.results.churn import COUNTERS, Verdict

CONFIDENCE = 0.95
# Resamples of the bootstrap: the interval's ends move by under 2% of its width between
# seeds at this count (20 cycles).
BOOTSTRAP_RESAMPLES = 2000
SEED = 20261201
# Fewer judged cycles than this give no slope verdict (3 points fit any line badly).
MIN_CYCLES = 4


def theil_sen(x: Sequence[float], y: Sequence[float]) -> float:
    """The median of the slopes between every pair of points with different x (as
    ``scipy.stats.theilslopes`` computes it); nan with fewer than two distinct x."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    i, j = np.triu_indices(len(xs), k=1)
    dx = xs[j] - xs[i]
    keep = dx != 0
    if not keep.any():
        return math.nan
    return float(np.median((ys[j] - ys[i])[keep] / dx[keep]))


def block_length(n: int) -> int:
    """The bootstrap's block: n^(1/3) cycles, the usual rate for a moving-block bootstrap."""
    return max(1, round(n ** (1 / 3)))


def slope_interval(
    x: Sequence[float],
    y: Sequence[float],
    seed: int = SEED,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> tuple[float, float]:
    """A ``confidence`` interval on the Theil-Sen slope: moving-block bootstrap over the
    (x, y) pairs, percentiles of the resampled slopes."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(xs)
    block = block_length(n)
    rng = np.random.default_rng(seed)
    blocks = math.ceil(n / block)
    slopes = []
    for _ in range(resamples):
        starts = rng.integers(0, n - block + 1, size=blocks)
        idx = (starts[:, None] + np.arange(block)[None, :]).ravel()[:n]
        slope = theil_sen(xs[idx], ys[idx])
        if not math.isnan(slope):
            slopes.append(slope)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(slopes, [tail, 100 - tail])
    return float(low), float(high)


def more_cycles(n: int, slope: float, low: float, high: float, tolerance: float) -> int | None:
    """How many more cycles would likely decide an inconclusive slope verdict.

    The interval's half-width on a slope shrinks as n^(-3/2) with n evenly spaced cycles
    (the slope's standard error is sigma * sqrt(12 / (n^3 - n))); the interval must
    shrink until it clears the tolerance boundary nearest the slope. None when the
    slope sits on that boundary or falls below -tolerance (no count of cycles decides:
    more warm-up would)."""
    if slope < -tolerance:
        return None
    needed = slope - tolerance if slope > tolerance else tolerance - abs(slope)
    half = (high - low) / 2
    if needed <= 0 or half <= 0:
        return None
    total = n * (half / needed) ** (2 / 3)
    return max(1, math.ceil(total) - n)


def judge(
    metric: str,
    series: Sequence[float | None],
    warmup_cycles: int,
    clients: float,
    tolerance_per_connection: float | None = None,
    seed: int = SEED,
    during_load: bool = False,
) -> Verdict:
    """The verdict on ``metric``'s ``series`` (one value per cycle, None where unread)."""
    counter = COUNTERS[metric]
    if tolerance_per_connection is None:
        tolerance_per_connection = counter.tolerance_per_connection
    points = [(i, v) for i, v in enumerate(series) if i >= warmup_cycles and v is not None]
    verdict = Verdict(metric=metric, rule=counter.rule, unit=counter.unit)
    if len(points) < MIN_CYCLES:
        verdict.verdict = "inconclusive"
        verdict.more_cycles = MIN_CYCLES - len(points)
        verdict.note = f"{len(points)} cycles after the warm-up; {MIN_CYCLES} are the fewest judged"
        return verdict
    x = [float(i) for i, _ in points]
    y = [float(v) for _, v in points]
    slope = theil_sen(x, y)
    low, high = slope_interval(x, y, seed)
    verdict.slope_per_cycle = slope
    verdict.per_connection = slope / clients if clients else None
    verdict.ci_low, verdict.ci_high = low, high
    if counter.rule == "baseline" and during_load:
        verdict.verdict = "leak" if low > 0 else "flat"
        verdict.note = "read during the load: a leak when the slope's interval lies above 0"
        return verdict
    if counter.rule == "baseline":
        # The last warm-up cycle is the baseline the first judged cycle is held to.
        start = max(0, warmup_cycles - 1)
        kept = [v for i, v in enumerate(series) if i >= start and v is not None]
        deltas = [b - a for a, b in itertools.pairwise(kept)]
        grew = all(d >= 1 for d in deltas)
        verdict.verdict = "leak" if grew else "flat"
        verdict.note = f"deltas {', '.join(f'{d:g}' for d in deltas)}"
        return verdict
    tolerance = tolerance_per_connection * clients
    verdict.tolerance_per_cycle = tolerance
    if low > tolerance:
        verdict.verdict = "leak"
    elif -tolerance <= low and high <= tolerance:
        verdict.verdict = "flat"
    else:
        verdict.verdict = "inconclusive"
        verdict.more_cycles = more_cycles(len(points), slope, low, high, tolerance)
        if slope < -tolerance:
            verdict.note = "falling: still settling; give it more warm-up cycles"
    return verdict


def judge_all(
    series: dict[str, list[float | None]],
    warmup_cycles: int,
    clients: float,
    during_load: bool = False,
) -> list[Verdict]:
    """A verdict for each counter that was read and is judged, in the registry's order."""
    return [
        judge(name, series[name], warmup_cycles, clients, during_load=during_load)
        for name, counter in COUNTERS.items()
        if counter.rule != "recorded"
        and name in series
        and any(v is not None for v in series[name])
    ]
