"""Statistics: pure functions, no I/O.

Latencies live in HdrHistograms (microseconds, 3 significant digits), which merge
exactly across client processes and can be re-read from a result file later.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence

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
    wanted = [(pct, loss_adjusted_level(pct, expected, delivered)) for pct in levels]
    wanted = [(pct, level) for pct, level in wanted if not math.isinf(level)]
    # One pass over the histogram for every level, not one per level.
    values = hist.get_percentile_to_value_dict([level for _, level in wanted])
    return [(pct, values[level] / 1000) for pct, level in wanted]


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
    values = hist.get_percentile_to_value_dict(list(levels))
    return [(p, values[p] / 1000) for p in levels]


def percentiles(
    values: Sequence[float], pcts: Sequence[float] = PERCENTILES
) -> dict[str, float | None]:
    """Percentiles of a small sample (connect times), linear interpolation."""
    out: dict[str, float | None] = {}
    for pct in pcts:
        out[percentile_key(pct)] = float(np.percentile(values, pct)) if len(values) else None
    return out


def connect_summary_ms(values: Sequence[float]) -> dict[str, float | None]:
    """Handshake times in ms: p50, p90, p99, p99.9 and the slowest."""
    return {**percentiles(values), "max": max(values, default=None)}


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
