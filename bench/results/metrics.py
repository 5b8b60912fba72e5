"""Metrics: what is read from each repeat of a point, and the facts about each.

The one registry of metrics: each knows where its value is, its names (a short label for
a table column, a description for a chart's axis), its unit, how a value prints, which way
is better and the rule it is judged by. ``compare``, the tables and the report read them
here rather than keeping their own. A new metric is one entry here, and its value
written into ``Repeat`` (bench/results/model.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.judge import significance, stats
from bench.results.units import ms, num


@dataclass(frozen=True)
class Metric:
    name: str
    path: tuple[str, ...]
    higher_is_better: bool
    # A table column's heading, and a chart axis's words.
    label: str
    description: str
    unit: str
    # A value's format (``format``): a latency in ms prints +inf as ``units.LOST``.
    spec: str
    # A latency percentile counted over every expected delivery (``Repeat.value``): a
    # lost message is +inf. ``path`` is then the stored, delivered-only figure. Such a
    # latency is judged within the loss bound only (``significance.judge_latency``).
    percentile: float | None = None
    # Judged on the difference of the medians (a ratio of ratios says little), not their
    # ratio.
    absolute: bool = False

    def format(self, value: float | None) -> str:
        return ms(value, self.spec) if self.unit == "ms" else num(value, self.spec)

    def judge(
        self,
        base: Sequence[float],
        new: Sequence[float],
        losses: Mapping[str, Sequence[float]] | None = None,
        threshold: float = significance.DEFAULT_THRESHOLD,
        alpha: float = significance.SIGNIFICANCE_ALPHA,
        loss_bound: float = stats.LOSS_BOUND,
    ) -> significance.Judgement:
        """``new`` against ``base`` by this metric's rule: a latency counted over every
        expected delivery within the loss bound (``losses``: each side's per-repeat loss
        ratios), anything else by its direction, on the ratio or the difference."""
        if self.percentile is not None:
            return significance.judge_latency(
                base, new, losses or {}, threshold=threshold, alpha=alpha, loss_bound=loss_bound
            )
        return significance.judge(
            base,
            new,
            higher_is_better=self.higher_is_better,
            threshold=threshold,
            alpha=alpha,
            absolute=self.absolute,
        )


def _latency(key: str, percentile: float | None) -> Metric:
    """``p99_ms`` (every expected delivery: a percentile) or ``p99_delivered_ms``."""
    short = key.replace("_", ".")
    if percentile is None:
        return Metric(
            f"{key}_delivered_ms",
            ("latency_ms", key),
            False,
            f"{short} ms, delivered only",
            f"{short} latency of the delivered messages (ms)",
            "ms",
            ".1f",
        )
    return Metric(
        f"{key}_ms", ("latency_ms", key), False, f"{short} ms", f"{short} latency (ms)", "ms",
        ".1f", percentile,
    )  # fmt: skip


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "delivered_per_s", ("throughput", "delivered_per_s"), True, "delivered/s",
            "messages delivered per second", "msg/s", ",.0f",
        ),
        Metric(
            "sent_per_s", ("throughput", "sent_per_s"), True, "sent/s",
            "messages sent per second", "msg/s", ",.0f",
        ),
        _latency("p50", 50.0),
        _latency("p99", 99.0),
        _latency("p99_9", 99.9),
        _latency("p50", None),
        _latency("p99", None),
        _latency("p99_9", None),
        Metric(
            "threads", ("server", "threads_max"), False, "threads",
            "server threads (peak)", "threads", ".0f",
        ),
        Metric(
            "cpu_percent", ("server", "cpu_mean_percent"), False, "cpu %",
            "server CPU (% of one core)", "% of a core", ".0f",
        ),
        Metric(
            "loop_cpu_percent", ("server", "event_loop_cpu_percent"), False, "loop cpu %",
            "the event loop thread's CPU (% of one core)", "% of a core", ".0f",
        ),
        Metric(
            "other_threads_cpu_percent", ("server", "other_threads_cpu_percent"), False,
            "other threads cpu %", "the other threads' CPU (% of one core)", "% of a core",
            ".0f",
        ),
        Metric(
            "loss_ratio", ("loss_ratio",), False, "loss",
            "expected deliveries lost", "fraction", ".2%", absolute=True,
        ),
        Metric(
            "rss_peak_bytes", ("server", "rss_peak_bytes"), False, "rss",
            "server resident memory (peak, bytes)", "bytes", ",.0f",
        ),
        Metric(
            "database_cpu_percent", ("services", "database", "cpu_mean_percent"), False,
            "db cpu %", "the database's CPU (% of one core)", "% of a core", ".0f",
        ),
        Metric(
            "lost_writes", ("database", "lost_writes"), False, "lost writes",
            "messages not saved to the database", "writes", ",.0f",
        ),
    )
}  # fmt: skip


def walk(value: Any, path: Sequence[str]) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
    return value
