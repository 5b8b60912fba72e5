"""Is this difference real? One answer for ``compare`` and for the report's "who wins":
a size threshold AND an exact Mann-Whitney U test over the repeats (asv's rule), and
Holm-Bonferroni over a family of such tests. Pure functions, no I/O.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bench.judge.stats import LOSS_BOUND, loss_bound_reason, median

# --- Significance: the Mann-Whitney U test, exact for the few repeats a run has ----------
#
# asv's rule: report a change only when it passes a size threshold AND a Mann-Whitney U
# test on the raw samples says the samples differ. Repeats cost seconds each, so samples
# are small and the exact distribution of U is cheap; it needs no normality.

# The smallest change reported as better or worse: 10% of the base, as asv's default.
DEFAULT_THRESHOLD = 0.10
# Two-sided significance level. asv uses 0.002 over many samples; a run has a handful of
# repeats, and with 4 against 4 the smallest possible p is 2/70 = 0.029.
SIGNIFICANCE_ALPHA = 0.05
# Without ties scipy's exact distribution of U serves up to this n*m; with ties the exact
# p counts every split of the pooled sample, up to this many splits (9 against 9). Past
# either, the tie-corrected normal approximation is within a few percent of exact.
EXACT_PAIRS_MAX = 2_500
EXACT_SPLITS_MAX = 50_000


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """U of ``x`` (pairs where x beats y, ties counting a half) and the two-sided p-value
    that ``x`` and ``y`` come from one distribution.

    Exact for small samples, ties included (every split of the pooled midranks is counted);
    the tie-corrected normal approximation with continuity correction for large ones.
    """
    # Imported here: scipy.stats takes about a second to import, which every chanbench
    # command (``--help`` included) would pay; only a judgement needs it.
    from scipy import stats

    n, m = len(x), len(y)
    if not n or not m:
        raise ValueError("the Mann-Whitney U test needs at least one value on each side")
    pooled = np.asarray([*x, *y], dtype=float)
    ties = len(np.unique(pooled)) < len(pooled)
    splits = math.comb(n + m, n)
    if ties and splits <= EXACT_SPLITS_MAX:
        # scipy has no exact p with ties (scipy 1.17): method="exact" uses the
        # distribution of U without ties, whatever the data (5 against 5 with three
        # ties: 0.056 where the exact p is 0.040), and PermutationMethod, exact when it
        # may enumerate every split, took 35 to 70 times as long (0.5 s for 9 against 9).
        ranks = stats.rankdata(pooled)
        u = float(ranks[:n].sum()) - n * (n + 1) / 2
        mean = n * m / 2
        deviation = abs(u - mean) - 1e-9  # U moves in halves; absorb float error
        base = n * (n + 1) / 2
        extreme = sum(
            1
            for chosen in itertools.combinations(ranks.tolist(), n)
            if abs(sum(chosen) - base - mean) >= deviation
        )
        return u, min(1.0, extreme / splits)
    exact = not ties and n * m <= EXACT_PAIRS_MAX
    result = stats.mannwhitneyu(
        x, y, alternative="two-sided", method="exact" if exact else "asymptotic"
    )
    return float(result.statistic), min(1.0, float(result.pvalue))


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
    the tests' dependence. (scipy's ``false_discovery_control`` adjusts for the false
    discovery rate, Benjamini-Hochberg, not Holm's family-wise error: hence these lines.)"""
    m = len(pvalues)
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted
