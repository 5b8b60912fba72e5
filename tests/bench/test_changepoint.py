"""The change-point fit over a series of medians (``bench.bisect.changepoint``), on
series whose steps are known."""

from bench.bisect.changepoint import change_points


def test_one_step_is_found_where_it_starts():
    assert change_points([100, 102, 98, 101, 50, 51, 49], 0.10) == [4]


def test_a_flat_noisy_series_has_none():
    assert change_points([100, 104, 97, 103, 99, 101, 96], 0.10) == []


def test_two_steps_up_and_down():
    series = [100, 99, 101, 200, 205, 198, 202, 100, 101]
    assert change_points(series, 0.10) == [3, 7]


def test_a_step_smaller_than_the_threshold_is_not_kept():
    assert change_points([100, 101, 100, 95, 94, 95], 0.10) == []
    assert change_points([100, 101, 100, 95, 94, 95], 0.04) == [3]


def test_a_step_at_the_last_commit_and_unmeasured_commits():
    assert change_points([100, 98, 102, 40], 0.10) == [3]
    # A commit with nothing measured (0) neither starts a level nor hides one.
    assert change_points([100, 0, 99, 40, 41], 0.10) == [3]
    assert change_points([], 0.10) == [] and change_points([5.0], 0.10) == []


def test_a_series_noisy_commit_to_commit_needs_a_step_that_stands_out():
    # Every neighbour 20-40% apart: no single commit's jump is a candidate ...
    noisy = [100, 140, 95, 130, 90, 135, 100, 125, 92, 138]
    assert change_points(noisy, 0.10) == []
    # ... but a halving that lasts is.
    assert change_points([*noisy, *(v / 2 for v in noisy)], 0.10) == [10]
