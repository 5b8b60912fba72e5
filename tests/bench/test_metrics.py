"""The metric registry owns each metric's facts: the rule it is judged by, its names and
how its values print, so compare, the tables and the report agree by construction."""

import math

from bench.judge import significance
from bench.results.metrics import METRICS
from bench.results.units import LOST

FAST = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
SLOW = [50.0, 51.0, 52.0, 53.0, 54.0, 55.0]


def test_each_metric_is_judged_by_its_own_rule():
    # Throughput: higher is better, on the ratio of the medians.
    assert METRICS["delivered_per_s"].judge(SLOW, FAST).verdict == significance.BETTER
    assert METRICS["delivered_per_s"].judge(FAST, SLOW).verdict == significance.WORSE
    # Latency over every expected delivery: lower is better, within the loss bound only.
    assert METRICS["p99_ms"].judge(FAST, SLOW).verdict == significance.BETTER
    lossy = {"base": [0.0] * 6, "new": [0.5] * 6}
    judged = METRICS["p99_ms"].judge(FAST, SLOW, lossy)
    assert judged.verdict == significance.NOT_JUDGED and judged.reason
    # The delivered-only latency is not bound by the loss: it is told apart from p99_ms.
    assert METRICS["p99_delivered_ms"].judge(FAST, SLOW, lossy).verdict == significance.BETTER
    # Loss: on the difference, so half a point more is worse whatever the ratio says.
    none, some = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.01, 0.011, 0.012, 0.013, 0.014, 0.015]
    loss = METRICS["loss_ratio"].judge(none, some, threshold=0.001)
    assert loss.verdict == significance.WORSE and loss.difference is not None


def test_values_print_in_each_metrics_unit():
    assert METRICS["p99_ms"].format(math.inf) == LOST
    assert METRICS["p99_ms"].format(12.345) == "12.3"
    assert METRICS["delivered_per_s"].format(12345.6) == "12,346"
    assert METRICS["loss_ratio"].format(0.0123) == "1.23%"
    assert all(m.format(None) == "-" for m in METRICS.values())


def test_names_tell_metrics_apart():
    labels = [m.label for m in METRICS.values()]
    assert len(set(labels)) == len(labels)
    assert all(m.description and m.unit for m in METRICS.values())
