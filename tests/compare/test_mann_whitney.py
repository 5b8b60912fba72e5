"""The Mann-Whitney U test in ``bench.judge.stats``, against values worked out by hand.

Each expected p counts, out of the C(n+m, n) equally likely ways to split the pooled
values, the splits whose U is at least as far from n*m/2 as the observed one.
"""

import math

import pytest

from bench.judge import significance


def test_complete_separation_three_against_three():
    # U = 0; only U = 0 and U = 9 are that extreme: 2 of C(6,3) = 20 splits.
    assert significance.mann_whitney_u([1, 2, 3], [4, 5, 6]) == (0.0, pytest.approx(0.1))


def test_two_against_two_can_never_be_significant():
    # The most extreme split of 2 against 2 still has p = 2/6.
    assert significance.mann_whitney_u([1, 2], [3, 4]) == (0.0, pytest.approx(1 / 3))
    assert significance.mann_whitney_min_p(2, 2) == pytest.approx(1 / 3)


def test_interleaved_samples():
    # x = 1, 3, 5 beat y = 2, 4, 6 in 0 + 1 + 2 = 3 pairs. The U distribution for 3 and 3
    # is 1 1 2 3 3 3 3 2 1 1 (U = 0..9); |U - 4.5| >= 1.5 for U <= 3 or U >= 6: 7 + 7.
    assert significance.mann_whitney_u([1, 3, 5], [2, 4, 6]) == (3.0, pytest.approx(14 / 20))


def test_ties_count_half_and_use_midranks():
    # Pairs: 1 loses 3 times; each 2 ties the y 2 (a half) and loses twice: U = 1.
    # Pooled midranks 1, 3, 3, 3, 5, 6: rank sums <= 7 ({1,3,3}: 3 ways) or >= 14
    # ({3,5,6}: 3 ways) are as extreme: 6 of 20.
    assert significance.mann_whitney_u([1, 2, 2], [2, 3, 4]) == (1.0, pytest.approx(0.3))


def test_identical_samples_have_p_one():
    assert significance.mann_whitney_u([5, 5], [5, 5]) == (2.0, 1.0)
    assert significance.mann_whitney_u([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])[1] == 1.0


def test_five_against_five_separated():
    u, p = significance.mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert u == 0.0
    assert p == pytest.approx(2 / math.comb(10, 5))  # 2/252 = 0.0079


def test_four_against_four_is_the_fewest_repeats_that_can_reach_five_percent():
    assert significance.mann_whitney_min_p(3, 3) == pytest.approx(0.1)
    assert significance.mann_whitney_min_p(4, 4) == pytest.approx(2 / 70)
    assert (
        significance.mann_whitney_min_p(4, 4)
        < significance.SIGNIFICANCE_ALPHA
        < significance.mann_whitney_min_p(3, 4)
    )  # 2/35 = 0.057
    # Real repeats from two runs: ranks of x are 1, 2, 3, 6, so U = 12 - 10 = 2;
    # U <= 2 happens in 1 + 1 + 2 = 4 of 70 splits, and U >= 14 in 4 more.
    x, y = [5049, 5791, 5087, 5230], [5792, 5284, 5682, 5900]
    assert significance.mann_whitney_u(x, y) == (2.0, pytest.approx(8 / 70))


def test_symmetric_in_its_arguments():
    x, y = [3.1, 4.5, 2.2, 8.0], [5.5, 6.1, 7.7, 4.9, 9.3]
    ux, px = significance.mann_whitney_u(x, y)
    uy, py = significance.mann_whitney_u(y, x)
    assert ux + uy == len(x) * len(y)
    assert px == pytest.approx(py)


def test_large_samples_use_the_normal_approximation():
    # 40 against 40 without ties: exact by recurrence, and tiny.
    u, p = significance.mann_whitney_u(list(range(40)), list(range(40, 80)))
    assert u == 0 and p < 1e-12
    # 10 against 10 with ties (C(20,10) = 184,756 splits): the normal approximation,
    # U = 12.5 (0..4 lose 10 pairs, 5..9 lose 5 pairs and tie 1 each), mean 50,
    # sigma^2 = 100/12 * (21 - 5 * 6 / 380), z = (37.5 - 0.5) / sigma.
    u, p = significance.mann_whitney_u(list(range(10)), list(range(5, 15)))
    assert u == 12.5
    sigma = math.sqrt(100 / 12 * (21 - 5 * 6 / 380))
    assert p == pytest.approx(math.erfc(37.0 / sigma / math.sqrt(2)))


def test_empty_sample_is_an_error():
    with pytest.raises(ValueError):
        significance.mann_whitney_u([], [1.0])
    assert significance.mann_whitney_min_p(0, 3) == 1.0
