"""Statistics against small samples computed by hand."""

import math

import numpy as np
import pytest

from bench.judge import significance, stats


def test_histogram_round_trip_and_merge():
    a = stats.encode_histogram(np.array([1000, 2000, 3000], dtype=np.int64))
    b = stats.encode_histogram(np.array([4000] * 7, dtype=np.int64))
    merged = stats.merge_histograms([a, b, ""])
    assert merged.get_total_count() == 10
    summary = stats.latency_summary_ms(merged)
    # 10 values: 1, 2, 3, then seven 4 ms: the median is 4 ms, the max 4 ms.
    assert summary["count"] == 10
    assert summary["p50"] == pytest.approx(4.0, rel=1e-3)
    assert summary["p90"] == pytest.approx(4.0, rel=1e-3)
    assert summary["max"] == pytest.approx(4.0, rel=1e-3)
    assert summary["mean"] == pytest.approx((1 + 2 + 3 + 28) / 10, rel=1e-3)


def test_histogram_percentiles_of_a_known_sample():
    values = np.arange(1, 1001, dtype=np.int64) * 1000  # 1 ms .. 1000 ms
    hist = stats.merge_histograms([stats.encode_histogram(values)])
    summary = stats.latency_summary_ms(hist)
    assert summary["p50"] == pytest.approx(500, rel=2e-3)
    assert summary["p99"] == pytest.approx(990, rel=2e-3)
    assert summary["p99_9"] == pytest.approx(999, rel=2e-3)


def test_empty_histogram_summary_is_none():
    hist = stats.merge_histograms([stats.encode_histogram(np.empty(0, dtype=np.int64))])
    assert stats.latency_summary_ms(hist)["p99"] is None
    assert stats.spectrum_ms(hist) == []


def test_percentiles_interpolate():
    assert stats.percentiles([1.0, 2.0, 3.0, 4.0], [50.0]) == {"p50": 2.5}
    assert stats.percentiles([], [50.0]) == {"p50": None}


def test_median_ratio_geomean():
    assert stats.median([3.0, 1.0, 2.0]) == 2.0
    assert stats.median([]) is None
    assert stats.ratio(6.0, 3.0) == 2.0
    assert stats.ratio(1.0, 0.0) is None
    assert stats.geometric_mean([2.0, 8.0]) == pytest.approx(4.0)


def test_spread_warnings():
    assert stats.spread_warnings("x", [100, 101, 99]) == []
    wide = stats.spread_warnings("x", [100, 160, 40])
    assert any("spread is wide" in w for w in wide)
    assert any("50% away" in w for w in wide)


# --- Issue 9: latency with loss, absolute and corrected significance ---------------------


def known_histogram() -> object:
    """1 ms .. 1000 ms, one delivery each."""
    values = np.arange(1, 1001, dtype=np.int64) * 1000
    return stats.merge_histograms([stats.encode_histogram(values)])


def test_a_percentile_past_the_delivered_fraction_is_lost():
    """Item 2: 1,000 delivered of 1,111 expected (10% lost): the p99 over every expected
    delivery is a lost message, +inf; the p50 is the delivered p55.6."""
    hist = known_histogram()
    assert stats.percentile_with_loss(hist, 99.0, 1111, 1000) == math.inf
    assert stats.percentile_with_loss(hist, 99.9, 1111, 1000) == math.inf
    assert stats.percentile_with_loss(hist, 50.0, 1111, 1000) == pytest.approx(555.5, rel=3e-3)
    assert stats.percentile_with_loss(hist, 90.0, 1111, 1000) == pytest.approx(1000, rel=3e-3)
    # The encoded text serves as well as the histogram.
    text = hist.encode().decode("ascii")
    assert stats.percentile_with_loss(text, 50.0, 1111, 1000) == pytest.approx(555.5, rel=3e-3)
    # Nothing lost: the delivered percentile, from a summary too.
    summary = stats.latency_summary_ms(hist)
    assert stats.percentile_with_loss(hist, 99.0, 1000, 1000) == summary["p99"]
    assert stats.percentile_with_loss(summary, 99.0, 1000, 1000) == summary["p99"]
    # A summary cannot give the p99.2 that 0.2% lost asks for; a lost one it can.
    with pytest.raises(ValueError, match="needs the histogram"):
        stats.percentile_with_loss(summary, 99.0, 1002, 1000)
    assert stats.percentile_with_loss(summary, 99.0, 2000, 1000) == math.inf


def test_nothing_delivered_is_a_lost_sample_not_a_missing_one():
    empty = stats.merge_histograms([])
    assert stats.percentile_with_loss(empty, 50.0, 500, 0) == math.inf
    assert stats.percentile_with_loss(empty, 50.0, 0, 0) == math.inf
    assert stats.loss_adjusted_level(99.0, 100, 0) == math.inf


def test_the_last_delivery_is_not_lost_by_a_rounding_error():
    # 999 of 1000 delivered: p99.9 over 1000 is the 999th value, the last delivered.
    assert stats.loss_adjusted_level(99.9, 1000, 999) == pytest.approx(100.0)
    assert stats.percentile_with_loss(known_histogram(), 99.9, 1001, 1000) < math.inf


def test_the_spectrum_stops_where_the_lost_messages_begin():
    pairs = stats.spectrum_with_loss_ms(known_histogram(), 2000, [10.0, 50.0, 60.0, 99.0])
    assert [p for p, _ in pairs] == [10.0, 50.0]
    assert pairs[0][1] == pytest.approx(200, rel=3e-3)


def test_spread_warnings_ignore_lost_values():
    assert stats.spread_warnings("p99_ms", [100.0, 101.0, 99.0, math.inf]) == []


def test_loss_is_judged_on_an_absolute_difference():
    """Item 14: no loss against 0.001% is a ratio of +inf; as a difference, 0.001 points."""
    base, new = [0.0] * 5, [1e-5, 2e-5, 0.0, 1e-5, 3e-5]
    relative = significance.judge(base, new, higher_is_better=False, threshold=0.10)
    assert relative.ratio == math.inf
    absolute = significance.judge(base, new, higher_is_better=False, threshold=0.001, absolute=True)
    assert absolute.verdict == significance.NOT_SIGNIFICANT
    assert absolute.difference == pytest.approx(1e-5)
    real = significance.judge(
        base, [0.01, 0.02, 0.03, 0.04, 0.05], higher_is_better=False, threshold=0.001, absolute=True
    )
    assert real.verdict == significance.WORSE and real.p == pytest.approx(2 / 252)


def test_latency_is_not_judged_past_the_loss_bound():
    fast, slow = [10.0, 11.0, 12.0, 13.0, 14.0], [30.0, 31.0, 32.0, 33.0, 34.0]
    lossless = {"sync": [0.0] * 5, "async": [0.0] * 5}
    assert (
        significance.judge_latency(slow, fast, lossless, threshold=0.1).verdict
        == significance.BETTER
    )
    lossy = {"sync": [0.0] * 5, "async": [0.0, 0.0, 0.002, 0.0, 0.0]}
    judgement = significance.judge_latency(slow, fast, lossy, threshold=0.1)
    assert judgement.verdict == significance.NOT_JUDGED
    assert (
        judgement.reason == "async lost 0.20% (latency is judged only within the 0.10% loss bound)"
    )


def test_holm_bonferroni_adjusts_in_the_order_given():
    # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 -> 0.06 (monotone).
    assert significance.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert significance.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert significance.holm([]) == []


def test_smallest_attainable_p_of_uneven_samples():
    assert significance.mann_whitney_min_p(3, 5) == pytest.approx(2 / 56)  # 0.036 < 0.05
    assert significance.mann_whitney_min_p(5, 5) == pytest.approx(2 / 252)
