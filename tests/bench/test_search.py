"""The saturation search: rates in any order, and every repeat of a step counts."""

import numpy as np

from bench.judge import stats
from bench.results.model import PointResult, Repeat, RepeatCounts
from bench.run.search import SaturationSearch
from bench.scenario import Point, Search

BOUNDS = Search(p99_ms=100.0, loss=0.001)


def rep(i: int, p99_ms: float = 50.0, loss: float = 0.0) -> Repeat:
    """A successful repeat with that p99 (and no books: the stored figure is read)."""
    return Repeat(repeat=i, latency_ms={"p99": p99_ms}, loss_ratio=loss)


def step(*repeats: Repeat) -> PointResult:
    return PointResult(repeats=list(repeats))


def search() -> SaturationSearch:
    return SaturationSearch(BOUNDS, ["consumer", "rate"])


def test_steps_are_ordered_by_ascending_rate():
    """Issue 9, item 17: the runner measures in matrix order, as the scenario lists the
    rates; ``order`` puts each group's rates ascending, keeping sync before async."""
    points = [
        Point(consumer=c, mode="open", rate=r) for r in (20.0, 5.0, 10.0) for c in ("sync", "async")
    ]
    ordered = search().order(points)
    assert [(p.rate, p.consumer) for p in ordered] == [
        (5.0, "sync"),
        (5.0, "async"),
        (10.0, "sync"),
        (10.0, "async"),
        (20.0, "sync"),
        (20.0, "async"),
    ]


def test_rates_in_any_order_give_the_same_answer():
    """A broken rate skips higher rates only; the highest sustained rate is the highest
    held below the lowest broken, whatever order the steps ran in."""
    s = search()
    sync = {
        rate: Point(consumer="sync", mode="open", rate=rate) for rate in (5.0, 10.0, 20.0, 40.0)
    }
    s.record(sync[20.0], step(rep(0, p99_ms=150.0)))  # broke
    assert s.skips(sync[40.0]) and s.skips(sync[20.0])
    assert not s.skips(sync[5.0]) and not s.skips(sync[10.0])  # lower rates still run
    s.record(sync[10.0], step(rep(0)))
    s.record(sync[5.0], step(rep(0)))
    (group,) = s.outcome().groups
    assert group.highest_rate == 10.0
    assert group.broken_at == 20.0
    assert group.reason == "repeat 0: p99 150.0 ms > 100 ms"
    # A lower rate that breaks after a higher one moves the break down.
    s.record(sync[10.0], step(rep(0, loss=0.01)))
    (group,) = s.outcome().to_json()["groups"]  # the result file's shape, unchanged
    assert group == {
        "group": "sync",
        "consumer": "sync",
        "highest_rate": 5.0,
        "broken_at": 10.0,
        "reason": "repeat 0: loss 1.000% > 0.100%",
    }


def test_a_step_holds_only_if_every_repeat_holds():
    """Issue 9, item 17: the median of three repeats' p99 (50, 50, 150 ms) held a 100 ms
    bound; one repeat in three past it is a rate not sustained every time."""
    s = search()
    assert s.broken(step(rep(0), rep(1), rep(2))) is None
    assert (
        s.broken(step(rep(0), rep(1), rep(2, p99_ms=150.0)))
        == "repeat 2: p99 150.0 ms > 100 ms (1 of 3 repeats broke)"
    )
    assert (
        s.broken(step(rep(0), rep(1, loss=0.002), rep(2)))
        == "repeat 1: loss 0.200% > 0.100% (1 of 3 repeats broke)"
    )
    failed = Repeat.failed(1, "server died")
    assert s.broken(step(rep(0), failed, rep(2))) == (
        "repeat 1: failed (server died) (1 of 3 repeats broke)"
    )


def test_a_lost_p99_breaks_the_latency_bound():
    """Item 2: a loss within a loose loss bound still makes the p99 a lost message."""
    s = SaturationSearch(Search(p99_ms=100.0, loss=0.05), ["consumer", "rate"])
    hist = stats.encode_histogram(np.full(97, 5_000, dtype=np.int64))  # 5 ms each
    lossy = Repeat(
        repeat=0,
        counts=RepeatCounts(expected=100, delivered=97, lost=3),
        loss_ratio=0.03,
        latency_ms={"p99": 5.0},
        latency_histogram=hist,
    )
    assert s.broken(step(lossy)) == "repeat 0: p99 >drain (lost) > 100 ms"
    nothing = Repeat(repeat=0, counts=RepeatCounts(expected=0, delivered=0), loss_ratio=0.0)
    assert s.broken(step(nothing)) == "repeat 0: p99 >drain (lost) > 100 ms"
