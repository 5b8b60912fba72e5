"""Metrics: what is read from each repeat of a point, and which way is better.

The one registry of metrics: ``compare``, the tables and the report read a metric's
facts here rather than keeping their own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    name: str
    path: tuple[str, ...]
    higher_is_better: bool
    # A latency percentile counted over every expected delivery (``Repeat.value``): a
    # lost message is +inf. ``path`` is then the stored, delivered-only figure.
    percentile: float | None = None


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("delivered_per_s", ("throughput", "delivered_per_s"), True),
        Metric("sent_per_s", ("throughput", "sent_per_s"), True),
        Metric("p50_ms", ("latency_ms", "p50"), False, 50.0),
        Metric("p99_ms", ("latency_ms", "p99"), False, 99.0),
        Metric("p99_9_ms", ("latency_ms", "p99_9"), False, 99.9),
        Metric("p50_delivered_ms", ("latency_ms", "p50"), False),
        Metric("p99_delivered_ms", ("latency_ms", "p99"), False),
        Metric("p99_9_delivered_ms", ("latency_ms", "p99_9"), False),
        Metric("threads", ("server", "threads_max"), False),
        Metric("cpu_percent", ("server", "cpu_mean_percent"), False),
        Metric("loop_cpu_percent", ("server", "event_loop_cpu_percent"), False),
        Metric("other_threads_cpu_percent", ("server", "other_threads_cpu_percent"), False),
        Metric("loss_ratio", ("loss_ratio",), False),
        Metric("rss_peak_bytes", ("server", "rss_peak_bytes"), False),
        Metric("database_cpu_percent", ("services", "database", "cpu_mean_percent"), False),
        Metric("lost_writes", ("database", "lost_writes"), False),
    )
}


def walk(value: Any, path: Sequence[str]) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
    return value
