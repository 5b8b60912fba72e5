"""Leak verdicts against small series computed by hand (bench/judge/leaks.py)."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench.judge import leaks
from bench.results.churn import COUNTERS, Churn, Cycle

KIB = 1024


def test_theil_sen_by_hand_and_as_scipy_computes_it():
    # Slopes between pairs: (0,1) 2, (0,2) 1.5, (1,2) 1: the median is 1.5.
    assert leaks.theil_sen([0, 1, 2], [0, 2, 3]) == 1.5
    rng = np.random.default_rng(1)
    x = np.arange(15.0)
    y = 3 * x + rng.normal(0, 2, 15)
    assert leaks.theil_sen(x, y) == pytest.approx(scipy_stats.theilslopes(y, x).slope)
    assert math.isnan(leaks.theil_sen([1, 1], [0, 5]))


def test_an_outlier_does_not_move_the_slope():
    y = [10.0 * i for i in range(10)]
    y[5] = 1e9  # one cycle read during a page-in
    assert leaks.theil_sen(range(10), y) == 10.0


def test_interval_is_seeded_and_holds_the_slope():
    rng = np.random.default_rng(2)
    x = np.arange(20.0)
    y = 5 * x + rng.normal(0, 3, 20)
    low, high = leaks.slope_interval(x, y)
    assert (low, high) == leaks.slope_interval(x, y)  # same seed, same interval
    assert low < 5 < high
    assert high - low < 3


def test_block_length_grows_as_the_cube_root():
    assert [leaks.block_length(n) for n in (1, 8, 27, 64)] == [1, 2, 3, 4]


def series(per_cycle: float, noise: float, n: int = 12, seed: int = 3) -> list[float | None]:
    rng = np.random.default_rng(seed)
    return [100e6 + per_cycle * i + rng.normal(0, noise) for i in range(n)]


def test_memory_leak_is_found_with_its_bytes_per_connection():
    verdict = leaks.judge("rss_bytes", series(20 * 64 * KIB, 20 * KIB), 2, clients=20)
    assert verdict.verdict == "leak"
    assert verdict.per_connection == pytest.approx(64 * KIB, rel=0.05)
    assert verdict.ci_low is not None and verdict.ci_high is not None
    assert verdict.ci_low <= verdict.slope_per_cycle <= verdict.ci_high
    assert verdict.tolerance_per_cycle == 20 * COUNTERS["rss_bytes"].tolerance_per_connection


def test_flat_memory_is_flat():
    verdict = leaks.judge("rss_bytes", series(0, 2 * KIB), 2, clients=20)
    assert verdict.verdict == "flat"
    assert verdict.more_cycles is None


def test_noise_past_the_tolerance_is_inconclusive_with_more_cycles():
    # A slope of half the tolerance, cycles alternating 10 tolerances above and below it.
    tolerance = 20 * COUNTERS["rss_bytes"].tolerance_per_connection
    y = [tolerance / 2 * i + (10 if i % 2 else -10) * tolerance for i in range(10)]
    verdict = leaks.judge("rss_bytes", y, 2, clients=20)
    assert verdict.verdict == "inconclusive"
    assert verdict.more_cycles is not None and verdict.more_cycles >= 1


def test_more_cycles_by_the_three_halves_rule():
    # Half-width 4, needed 1 (slope 0, tolerance 1): n must grow 4^(2/3) = 2.52 times.
    assert leaks.more_cycles(10, 0.0, -4.0, 4.0, 1.0) == 16
    # Past +tolerance: needed is slope - tolerance (2), half-width 4: 2^(2/3) = 1.59 times.
    assert leaks.more_cycles(10, 3.0, -1.0, 7.0, 1.0) == 6
    assert leaks.more_cycles(10, 1.0, -1.0, 3.0, 1.0) is None  # on the boundary
    assert leaks.more_cycles(10, -5.0, -6.0, -4.0, 1.0) is None  # falling


def test_falling_memory_is_not_flat_and_says_why():
    verdict = leaks.judge("rss_bytes", series(-20 * 64 * KIB, 1 * KIB), 0, clients=20)
    assert verdict.verdict == "inconclusive"
    assert "warm-up" in verdict.note


def test_too_few_cycles_after_the_warm_up():
    verdict = leaks.judge("rss_bytes", [1.0, 2.0, 3.0, 4.0], 2, clients=1)
    assert verdict.verdict == "inconclusive"
    assert verdict.more_cycles == leaks.MIN_CYCLES - 2


def test_baseline_rule_every_delta_at_least_one():
    # A task per connection, 5 connections a cycle; the warm-up's own growth ignored.
    grown = [3.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0]
    verdict = leaks.judge("asyncio_tasks", grown, 2, clients=5)
    assert verdict.verdict == "leak"
    assert verdict.per_connection == pytest.approx(1.0)
    assert verdict.note == "deltas 5, 5, 5, 5, 5"


def test_baseline_rule_one_return_is_flat():
    # CPython's rule: [1, 0, 1, 1] is not a leak (one cycle came back).
    verdict = leaks.judge("open_fds", [12.0, 13.0, 13.0, 14.0, 15.0, 16.0], 1, clients=5)
    assert verdict.verdict == "flat"


def test_a_count_read_during_a_soak_leaks_by_its_slope():
    # A layer keeping a channel every other sample: the -R rule never sees every delta
    # rise, the slope's interval lies above 0. A count that comes and goes does not.
    kept = [40.0, 41.0, 41.0, 42.0, 42.0, 43.0, 43.0, 44.0, 44.0, 45.0, 45.0, 46.0]
    assert leaks.judge("layer_channels", kept, 2, clients=10).verdict == "flat"
    verdict = leaks.judge("layer_channels", kept, 2, clients=10, during_load=True)
    assert verdict.verdict == "leak" and verdict.ci_low > 0
    assert verdict.per_connection == pytest.approx(0.05)
    in_flight = [40.0, 43.0, 38.0, 42.0, 41.0, 39.0, 44.0, 40.0, 42.0, 38.0, 43.0, 40.0]
    assert leaks.judge("asyncio_tasks", in_flight, 2, clients=10, during_load=True).verdict == (
        "flat"
    )


def test_judge_all_skips_counters_never_read():
    churn = Churn(clients=2, cycles=[Cycle(index=i, counters={"open_fds": 10.0}) for i in range(6)])
    got = leaks.judge_all({n: churn.series(n) for n in COUNTERS}, 2, 2)
    assert [v.metric for v in got] == ["open_fds"]
    assert got[0].verdict == "flat"


def test_pss_is_recorded_not_judged():
    rising = [float(i * 1e6) for i in range(8)]
    got = leaks.judge_all({"pss_bytes": rising, "rss_bytes": rising}, 2, 1)
    assert [v.metric for v in got] == ["rss_bytes"]
