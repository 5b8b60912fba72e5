"""Statistics: pure functions, no I/O.

Latencies live in HdrHistograms (microseconds, 3 significant digits), which merge
exactly across client processes and can be re-read from a result file later.
"""

from __future__ import annotations

import functools
import itertools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
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


def percentile_key(pct: float) -> str:
    """The key of a percentile in a latency summary: 99.9 is ``p99_9``."""
    return "p" + f"{pct:g}".replace(".", "_")


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
        summary[percentile_key(pct)] = hist.get_value_at_percentile(pct) / 1000
    summary["max"] = hist.get_max_value() / 1000
    summary["mean"] = hist.get_mean_value() / 1000
    return summary


# --- Latency with loss: every expected delivery counts ------------------------------------
#
# A lost message has no latency, and leaving it out of the percentiles makes a server that
# drops more look faster: "p99 1.9 s with 90% lost" is the p99 of the 10% that survived.
# Counted over every expected delivery, a lost message is a latency of +inf (it never
# arrived, not even by the end of the drain), so the p-th percentile over the E expected
# deliveries is the (p * E / D)-th percentile of the D delivered ones while that is at most
# 100, and +inf ("lost") past it: with 10% lost, p50 is the delivered p55.6, p99 is lost.

# Latency verdicts (report summary, compare, saturation search) need both sides' loss at
# most this, in every repeat: past it, how often a message arrives is the finding, and
# its latency is not comparable.
LOSS_BOUND = 0.001


def loss_adjusted_level(pct: float, expected: int, delivered: int) -> float:
    """The percentile of the delivered latencies that is the ``pct`` percentile over all
    ``expected`` deliveries: ``pct * expected / delivered``, or +inf past 100 (lost).

    No delivery at all is a failed sample: every percentile is lost."""
    if delivered <= 0:
        return math.inf
    if expected <= delivered:
        return pct
    level = pct * expected / delivered
    # The float product can land a hair past 100 when the last rank is the last delivery.
    return math.inf if level > 100 * (1 + 1e-12) else min(level, 100.0)


@functools.lru_cache(maxsize=256)
def _decoded(text: str) -> HdrHistogram:
    """A histogram read from its text, cached: a result's repeats are read many times.
    Private: callers only read it."""
    return merge_histograms([text])


def percentile_with_loss(
    source: HdrHistogram | str | Mapping[str, float | int | None],
    pct: float,
    expected: int,
    delivered: int,
) -> float | None:
    """The ``pct`` percentile, in ms, over ``expected`` deliveries of which ``delivered``
    arrived, lost ones counting as +inf: ``math.inf`` when the percentile is lost.

    ``source`` holds the delivered latencies: a histogram (or its encoded text), or a
    latency summary (``latency_summary_ms``), which serves only when nothing was lost
    (``ValueError`` otherwise: the percentile needed is not in it). None when the
    percentile is not known (an empty histogram, a summary without it)."""
    level = loss_adjusted_level(pct, expected, delivered)
    if math.isinf(level):
        return math.inf
    if isinstance(source, Mapping):
        if level != pct:
            raise ValueError(
                f"p{pct:g} with loss is p{level:.4g} of the delivered: needs the histogram"
            )
        value = source.get(percentile_key(pct))
        return None if value is None else float(value)
    hist = _decoded(source) if isinstance(source, str) else source
    if not hist.get_total_count():
        return None
    return float(hist.get_value_at_percentile(level)) / 1000


def spectrum_with_loss_ms(
    hist: HdrHistogram, expected: int, levels: Sequence[float]
) -> list[tuple[float, float]]:
    """(percentile over every expected delivery, latency ms) for the levels that are not
    lost: the spectrum stops at the delivered fraction. ``expected`` below the histogram's
    count (or 0) counts the histogram alone."""
    delivered = hist.get_total_count()
    expected = max(expected, delivered)
    out = []
    for pct in levels:
        level = loss_adjusted_level(pct, expected, delivered)
        if not math.isinf(level):
            out.append((pct, hist.get_value_at_percentile(level) / 1000))
    return out


def loss_bound_reason(
    losses: Mapping[str, Sequence[float]], bound: float = LOSS_BOUND
) -> str | None:
    """Why latency cannot be judged: a side whose worst repeat lost more than ``bound``
    (``{"sync": [...], "async": [...]}``, loss ratios per repeat), or None."""
    over = [
        f"{name} lost {max(values):.2%}"
        for name, values in losses.items()
        if values and max(values) > bound
    ]
    if not over:
        return None
    return f"{' and '.join(over)} (latency is judged only within the {bound:.2%} loss bound)"


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
        out[percentile_key(pct)] = float(np.percentile(values, pct)) if len(values) else None
    return out


def median(values: Sequence[float]) -> float | None:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(clean) if clean else None


def spread_warnings(name: str, values: Sequence[float]) -> list[str]:
    """pyperf-style warnings: too few repeats, or a spread too wide to trust."""
    clean = [v for v in values if v is not None and math.isfinite(v)]
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
# Latency past the loss bound on either side: not compared (``Judgement.reason`` says why).
NOT_JUDGED = "not judged"


@dataclass(frozen=True)
class Judgement:
    """Is ``new`` different from ``base``? The ratio of medians, their difference, p, and
    the verdict; ``reason`` when the verdict is ``NOT_JUDGED``."""

    ratio: float | None
    p: float | None
    verdict: str
    difference: float | None = None
    reason: str | None = None


def judge(
    base: Sequence[float],
    new: Sequence[float],
    *,
    higher_is_better: bool,
    threshold: float,
    alpha: float = SIGNIFICANCE_ALPHA,
    absolute: bool = False,
) -> Judgement:
    """asv's rule, the one answer to "is this difference real?" in compare and reports.

    "better" or "worse" only when the medians differ by ``threshold`` or more AND a
    two-sided Mann-Whitney U test says the samples differ (p < ``alpha``). "uncertain":
    past the threshold with every value of one side beyond every value of the other, but
    too few values for the test ever to reach ``alpha``. Otherwise "not significant";
    "failed" when only ``base`` has values, "no data" when neither or only ``new`` has.

    ``threshold`` is a fraction of the base median, or with ``absolute`` a difference of
    the medians (loss: 0.001 is 0.1 percentage points, whatever the base: a base of 0
    makes every ratio infinite).
    """
    if not new:
        return Judgement(None, None, FAILED if base else NO_DATA)
    if not base:
        return Judgement(None, None, NO_DATA)
    bm, nm = median(base), median(new)
    assert bm is not None and nm is not None
    ratio_ = 1.0 if bm == nm else (nm / bm if bm else math.inf)
    difference = 0.0 if bm == nm else nm - bm
    _, p = mann_whitney_u(base, new)
    size = abs(difference) if absolute else abs(ratio_ - 1)
    if not size >= threshold:  # also NaN: inf against inf is no change
        return Judgement(ratio_, p, NOT_SIGNIFICANT, difference)
    improved = (difference > 0) == higher_is_better
    if p < alpha:
        return Judgement(ratio_, p, BETTER if improved else WORSE, difference)
    apart = min(new) > max(base) or max(new) < min(base)
    if apart and mann_whitney_min_p(len(base), len(new)) >= alpha:
        return Judgement(ratio_, p, UNCERTAIN, difference)
    return Judgement(ratio_, p, NOT_SIGNIFICANT, difference)


def judge_latency(
    base: Sequence[float],
    new: Sequence[float],
    losses: Mapping[str, Sequence[float]],
    *,
    threshold: float,
    alpha: float = SIGNIFICANCE_ALPHA,
    loss_bound: float = LOSS_BOUND,
) -> Judgement:
    """``judge`` for a latency (lower is better), only when every repeat of both sides
    (``losses``: loss ratios per repeat, by side name) lost at most ``loss_bound``;
    otherwise ``NOT_JUDGED`` with the reason: a side that drops messages would otherwise
    win on the latency of the few it delivered, or lose on +inf percentiles, and either
    way the loss, not the latency, is the finding."""
    reason = loss_bound_reason(losses, loss_bound)
    if reason is not None and new and base:
        return Judgement(None, None, NOT_JUDGED, reason=reason)
    return judge(base, new, higher_is_better=False, threshold=threshold, alpha=alpha)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given: the k-th smallest of m is
    multiplied by m - k + 1, made monotone, capped at 1. Rejecting where the adjusted p is
    below alpha keeps the chance of any false alarm in the family at most alpha, whatever
    the tests' dependence."""
    m = len(pvalues)
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted
