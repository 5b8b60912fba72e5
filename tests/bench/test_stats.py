"""Statistics against small samples computed by hand."""

import numpy as np
import pytest

from bench import stats


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
