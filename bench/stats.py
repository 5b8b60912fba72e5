"""Statistics: pure functions, no I/O.

Latencies live in HdrHistograms (microseconds, 3 significant digits), which merge
exactly across client processes and can be re-read from a result file later.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence

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
        return {"count": 0, "p50": None, "p90": None, "p99": None, "p99_9": None,
                "max": None, "mean": None}
    summary: dict[str, float | int | None] = {"count": count}
    for pct in PERCENTILES:
        key = "p" + f"{pct:g}".replace(".", "_")
        summary[key] = hist.get_value_at_percentile(pct) / 1000
    summary["max"] = hist.get_max_value() / 1000
    summary["mean"] = hist.get_mean_value() / 1000
    return summary


def spectrum_ms(hist: HdrHistogram, levels: Sequence[float] | None = None) -> list[tuple[float, float]]:
    """(percentile, latency ms) pairs for a percentile-spectrum chart, HdrHistogram style."""
    if not hist.get_total_count():
        return []
    if levels is None:
        levels = [100 * (1 - 10 ** (-k / 4)) for k in range(0, 25)]  # 0% .. 99.9999%
    return [(p, hist.get_value_at_percentile(p) / 1000) for p in levels]


def percentiles(values: Sequence[float], pcts: Sequence[float] = PERCENTILES) -> dict[str, float | None]:
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
    warnings = []
    if len(clean) < FEW_REPEATS:
        return warnings  # the caller warns about few repeats once per run, not per metric
    mean = statistics.fmean(clean)
    if mean > 0:
        cv = statistics.stdev(clean) / mean
        if cv >= WIDE_SPREAD_CV:
            warnings.append(f"{name}: spread is wide (std dev {cv:.0%} of the mean); "
                            "numbers are not stable, run more repeats on a quieter machine")
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


# Metrics read from each repeat of a point, with whether higher is better.
METRICS: dict[str, tuple[tuple[str, ...], bool]] = {
    "delivered_per_s": (("throughput", "delivered_per_s"), True),
    "sent_per_s": (("throughput", "sent_per_s"), True),
    "p50_ms": (("latency_ms", "p50"), False),
    "p99_ms": (("latency_ms", "p99"), False),
    "p99_9_ms": (("latency_ms", "p99_9"), False),
    "threads": (("server", "threads_max"), False),
    "cpu_percent": (("server", "cpu_mean_percent"), False),
    "loss_ratio": (("loss_ratio",), False),
    "rss_peak_bytes": (("server", "rss_peak_bytes"), False),
}


def metric_values(point: dict, metric: str) -> list[float]:
    """The values of ``metric`` over a point's successful repeats."""
    path, _ = METRICS[metric]
    values = []
    for rep in point.get("repeats", []):
        if rep.get("status") != "ok":
            continue
        value: object = rep
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            values.append(float(value))
    return values


def point_medians(point: dict) -> dict[str, float | None]:
    """The median of every metric over a point's successful repeats."""
    return {metric: median(metric_values(point, metric)) for metric in METRICS}
