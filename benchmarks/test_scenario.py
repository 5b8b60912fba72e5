"""Each point of a scenario as a pytest-benchmark benchmark, one repeat each.

pytest-benchmark times the whole call: a server start, the clients connecting, the
warm-up, the measured window and the drain. For a fixed-duration load test that time says
little; the measurements are in ``extra_info`` (throughput, latency percentiles, server
threads and CPU, loss), saved with ``--benchmark-autosave``. For a regression verdict on
them use ``chanbench compare``, which tests significance over repeats.
"""

from __future__ import annotations

from typing import Any

from bench.run import runner
from bench.scenario import Point


def test_point(benchmark: Any, run_context: runner.RunContext, point: Point, label: str) -> None:
    # Sync and async at the same load side by side in pytest-benchmark's table.
    benchmark.group = " ".join(label.split()[1:]) or "point"
    record = benchmark.pedantic(
        runner.measure, args=(run_context, point, label, 0), rounds=1, iterations=1
    )
    assert record.ok, record.reason
    assert record.throughput is not None and record.counts is not None
    latency = record.latency_ms
    server = record.server
    benchmark.extra_info.update(
        {
            "params": point.params(),
            "delivered_per_s": record.throughput.delivered_per_s,
            "sent_per_s": record.throughput.sent_per_s,
            **{f"latency_{key}_ms": latency[key] for key in ("p50", "p90", "p99", "p99_9", "max")},
            "server_threads_max": server.threads_max if server else None,
            "server_cpu_mean_percent": server.cpu_mean_percent if server else None,
            "server_rss_peak_bytes": server.rss_peak_bytes if server else None,
            "loss_ratio": record.loss_ratio,
            "lost": record.counts.lost,
            "warnings": record.warnings,
        }
    )
    assert record.counts.delivered > 0
