"""Statistics: pure functions, no I/O.

Latencies live in HdrHistograms (microseconds, 3 significant digits), which merge
exactly across client processes and can be re-read from a result file later.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from hdrh.histogram import HdrHistogram

# 1 µs to 10 min covers any latency a run can see; 3 digits keep 0.1% precision.
HIST_LOWEST_US = 1
HIST_HIGHEST_US = 600_000_000
HIST_DIGITS = 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
# pyperf's thresholds: a spread this wide says the numbers are not stable.
WIDE_SPREAD_CV = 0.10
FEW_REPEATS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HIST_LOWEST_US, HIST_HIGHEST_US, HIST_DIGITS)


def encode_histogram(latencies_us: np.ndarray) -> str:
    """Record ``latencies_us`` into a histogram and return its compressed base64 text."""
    hist = new_histogram()
    if latencies_us.size:
        clipped = np.clip(latencies_us, HIST_LOWEST_US, HIST_HIGHEST_US)
        values, counts = np.unique(clipped, return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            hist.record_value(value, count)
    return hist.encode().decode("ascii")


def merge_histograms(encoded: Iterable[str]) -> HdrHistogram:
    """Decode and add histograms (from several client processes or repeats)."""
    hist = new_histogram()
    for text in encoded:
        if text:
            hist.decode_and_add(text.encode("ascii"))
    return hist


def latency_summary_ms(hist: HdrHistogram) -> dict[str, float | int | None]:
    """p50, p90, p99, p99.9, max and mean in milliseconds, and the sample count."""
    count = hist.get_total_count()
    if not count:
        return {
            "count": 0,
            "p50": None,
            "p90": None,
            "p99": None,
            "p99_9": None,
            "max": None,
            "mean": None,
        }
    summary: dict[str, float | int | None] = {"count": count}
    for pct in PERCENTILES:
        key = "p" + f"{pct:g}".replace(".", "_")
        summary[key] = hist.get_value_at_percentile(pct) / 1000
    summary["max"] = hist.get_max_value() / 1000
    summary["mean"] = hist.get_mean_value() / 1000
    return summary


def spectrum_ms(
    hist: HdrHistogram, levels: Sequence[float] | None = None
) -> list[tuple[float, float]]:
    """(percentile, latency ms) pairs for a percentile-spectrum chart, HdrHistogram style."""
    if not hist.get_total_count():
        return []
    if levels is None:
        levels = [100 * (1 - 10 ** (-k / 4)) for k in range(0, 25)]  # 0% .. 99.9999%
    return [(p, hist.get_value_at_percentile(p) / 1000) for p in levels]


def percentiles(
    values: Sequence[float], pcts: Sequence[float] = PERCENTILES
) -> dict[str, float | None]:
    """Percentiles of a small sample (connect times), linear interpolation."""
    out: dict[str, float | None] = {}
    for pct in pcts:
        key = "p" + f"{pct:g}".replace(".", "_")
        out[key] = float(np.percentile(values, pct)) if len(values) else None
    return out


def median(values: Sequence[float]) -> float | None:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(clean) if clean else None


def spread_warnings(name: str, values: Sequence[float]) -> list[str]:
    """pyperf-style warnings: too few repeats, or a spread too wide to trust."""
    clean = [v for v in values if v is not None]
    warnings: list[str] = []
    if len(clean) < FEW_REPEATS:
        return warnings  # the caller warns about few repeats once per run, not per metric
    mean = statistics.fmean(clean)
    if mean > 0:
        cv = statistics.stdev(clean) / mean
        if cv >= WIDE_SPREAD_CV:
            warnings.append(
                f"{name}: spread is wide (std dev {cv:.0%} of the mean); "
                "numbers are not stable, run more repeats on a quieter machine"
            )
        low, high = min(clean), max(clean)
        if low < mean * 0.5 or high > mean * 1.5:
            warnings.append(f"{name}: min {low:.4g} or max {high:.4g} is 50% away from the mean")
    return warnings


def ratio(new: float | None, base: float | None) -> float | None:
    if new is None or base is None or base == 0:
        return None
    return new / base


def geometric_mean(values: Iterable[float]) -> float | None:
    clean = [v for v in values if v is not None and v > 0]
    return math.exp(statistics.fmean(math.log(v) for v in clean)) if clean else None


# --- Significance: the Mann-Whitney U test, exact for the few repeats a run has ----------
#
# asv's rule: report a change only when it passes a size threshold AND a Mann-Whitney U
# test on the raw samples says the samples differ. Repeats cost seconds each, so samples
# are small and the exact distribution of U is cheap; it needs no normality and no scipy.

# The smallest change reported as better or worse: 10% of the base, as asv's default.
DEFAULT_THRESHOLD = 0.10
# Two-sided significance level. asv uses 0.002 over many samples; a run has a handful of
# repeats, and with 4 against 4 the smallest possible p is 2/70 = 0.029.
SIGNIFICANCE_ALPHA = 0.05
# Without ties the exact distribution of U is a quick recurrence up to this n*m; with ties
# the exact p counts every split of the pooled sample, up to this many splits (9 against
# 9). Past either, the tie-corrected normal approximation is within a few percent of exact.
EXACT_PAIRS_MAX = 2_500
EXACT_SPLITS_MAX = 50_000


def _midranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, tied values sharing the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def _u_counts_without_ties(n: int, m: int) -> list[int]:
    """How many of the C(n+m, n) orderings give U = 0, 1, ..., n*m (no ties)."""
    # counts[j][u] for i = 0 .. n, built up row by row: the largest of the i + j values
    # is either an x (adding j to U) or a y.
    row = [[1] for _ in range(m + 1)]  # i = 0: U is 0 whatever j is
    for i in range(1, n + 1):
        new_row: list[list[int]] = [[1]]  # j = 0: U is 0
        for j in range(1, m + 1):
            x_last, y_last = row[j], new_row[j - 1]
            counts = [0] * (i * j + 1)
            for u, c in enumerate(x_last):
                counts[u + j] += c
            for u, c in enumerate(y_last):
                counts[u] += c
            new_row.append(counts)
        row = new_row
    return row[m]


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """U of ``x`` (pairs where x beats y, ties counting a half) and the two-sided p-value
    that ``x`` and ``y`` come from one distribution.

    Exact for small samples, ties included (every split of the pooled midranks is counted);
    the tie-corrected normal approximation with continuity correction for large ones.
    """
    n, m = len(x), len(y)
    if not n or not m:
        raise ValueError("the Mann-Whitney U test needs at least one value on each side")
    pooled = [float(v) for v in (*x, *y)]
    ranks = _midranks(pooled)
    u = sum(ranks[:n]) - n * (n + 1) / 2
    mean = n * m / 2
    deviation = abs(u - mean) - 1e-9  # U moves in halves; absorb float error
    ties = len(set(pooled)) < len(pooled)
    splits = math.comb(n + m, n)
    if not ties and n * m <= EXACT_PAIRS_MAX:
        counts = _u_counts_without_ties(n, m)
        extreme = sum(c for value, c in enumerate(counts) if abs(value - mean) >= deviation)
        return u, min(1.0, extreme / splits)
    if ties and splits <= EXACT_SPLITS_MAX:
        base = n * (n + 1) / 2
        extreme = sum(
            1
            for chosen in itertools.combinations(ranks, n)
            if abs(sum(chosen) - base - mean) >= deviation
        )
        return u, min(1.0, extreme / splits)
    total = n + m
    tie_term = 0.0
    for value in set(pooled):
        t = pooled.count(value)
        tie_term += t**3 - t
    variance = n * m / 12 * ((total + 1) - tie_term / (total * (total - 1)))
    if variance <= 0:
        return u, 1.0
    z = max(0.0, abs(u - mean) - 0.5) / math.sqrt(variance)
    return u, min(1.0, math.erfc(z / math.sqrt(2)))


def mann_whitney_min_p(n: int, m: int) -> float:
    """The smallest two-sided p the exact test can reach with ``n`` and ``m`` values:
    every x beyond every y, 2 / C(n+m, n). 2 against 2 repeats can never go below 1/3."""
    if not n or not m:
        return 1.0
    return min(1.0, 2 / math.comb(n + m, n))


# The verdicts of ``judge``: a difference is real only past the threshold AND significant.
BETTER, WORSE = "better", "worse"
UNCERTAIN, NOT_SIGNIFICANT = "uncertain", "not significant"
FAILED, NO_DATA = "failed", "no data"


@dataclass(frozen=True)
class Judgement:
    """Is ``new`` different from ``base``? The ratio of medians, p, and the verdict."""

    ratio: float | None
    p: float | None
    verdict: str


def judge(
    base: Sequence[float],
    new: Sequence[float],
    *,
    higher_is_better: bool,
    threshold: float,
    alpha: float = SIGNIFICANCE_ALPHA,
) -> Judgement:
    """asv's rule, the one answer to "is this difference real?" in compare and reports.

    "better" or "worse" only when the medians differ by ``threshold`` or more AND a
    two-sided Mann-Whitney U test says the samples differ (p < ``alpha``). "uncertain":
    past the threshold with every value of one side beyond every value of the other, but
    too few values for the test ever to reach ``alpha``. Otherwise "not significant";
    "failed" when only ``base`` has values, "no data" when neither or only ``new`` has.
    """
    if not new:
        return Judgement(None, None, FAILED if base else NO_DATA)
    if not base:
        return Judgement(None, None, NO_DATA)
    bm, nm = median(base), median(new)
    assert bm is not None and nm is not None
    ratio_ = 1.0 if bm == nm else (nm / bm if bm else math.inf)
    _, p = mann_whitney_u(base, new)
    if abs(ratio_ - 1) < threshold:
        return Judgement(ratio_, p, NOT_SIGNIFICANT)
    improved = (ratio_ > 1) == higher_is_better
    if p < alpha:
        return Judgement(ratio_, p, BETTER if improved else WORSE)
    apart = min(new) > max(base) or max(new) < min(base)
    if apart and mann_whitney_min_p(len(base), len(new)) >= alpha:
        return Judgement(ratio_, p, UNCERTAIN)
    return Judgement(ratio_, p, NOT_SIGNIFICANT)
