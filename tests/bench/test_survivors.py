"""memray's leak view cut at churn cycles (bench/profiles/survivors.py), on a capture
recorded in this process with memray's own Tracker: what a cycle allocated and kept is
its survivor, on its line, even if freed after the churn ended (a server's exit frees its
globals); what was freed inside the churn is not; refusals of memory profiles memray
could not take (bench/run/memory_profiling.py)."""

import time
from dataclasses import replace

import pytest

from bench.errors import UserError
from bench.profiles import survivors
from bench.run.memory_profiling import check_memory
from bench.scenario import Point

SIZE = 300_000


def now_ms() -> float:
    """An edge, with a few of memray's 10 ms snapshots either side: quiet, as a churn's
    edge is (the settle before it, the next clients' start after)."""
    time.sleep(0.05)
    edge = time.time() * 1000
    time.sleep(0.05)
    return edge


def test_each_cycle_keeps_what_it_allocated_and_not_what_it_freed(tmp_path):
    from memray import Tracker

    capture = tmp_path / "c.bin"
    kept: list[bytearray] = []

    def hold(size: int) -> None:
        kept.append(bytearray(size))  # every allocation on one line, as a leak's

    with Tracker(capture, trace_python_allocators=True):
        edges = [now_ms()]
        hold(SIZE)  # cycle 0: kept past the churn's end
        edges.append(now_ms())
        hold(SIZE + 1)
        kept.pop()  # cycle 1: freed inside the churn
        hold(SIZE + 2)  # cycle 1: kept
        edges.append(now_ms())
        kept.clear()  # after the last edge: the exit, which must not hide a leak
        time.sleep(0.05)
    (top,) = survivors.top(survivors.read([capture], edges), warmup_cycles=0, count=1)
    assert (top.file, top.function) == ("bench/test_survivors.py", "hold")
    assert SIZE <= top.bytes_by_cycle[0] < SIZE + 4096
    assert SIZE + 2 <= top.bytes_by_cycle[1] < SIZE + 4096  # not SIZE + 1 as well
    assert top.allocations_by_cycle[0] == top.allocations_by_cycle[1] >= 1  # object, buffer
    assert top.size_bytes == sum(top.bytes_by_cycle)
    assert top.stack[1].startswith("test_each_cycle")


def test_a_line_that_holds_every_cycle_ranks_above_one_that_held_once():
    steady = survivors._Line([10, 10, 10, 10], [1, 1, 1, 1], {("a (x.py:1)",): 40})
    once = survivors._Line([0, 100, 0, 0], [0, 1, 0, 0], {("b (y.py:2)",): 100})
    ranked = survivors.top({("x.py", "a", 1): steady, ("y.py", "b", 2): once}, warmup_cycles=1)
    assert [s.where for s in ranked] == ["x.py:1", "y.py:2"]
    assert ranked[0].size_bytes == 30 and ranked[0].stack == ["a (x.py:1)"]


@pytest.mark.parametrize(
    ("server", "workers", "refused"),
    [
        ("hypercorn", 1, "spawns"),
        ("uvicorn", 2, "new interpreters"),
        ("uvicorn", 1, None),
        ("daphne", 2, None),
        ("gunicorn", 2, None),
        ("granian", 2, None),
    ],
)
def test_memory_refused_where_memray_cannot_follow_the_workers(server, workers, refused):
    point = replace(Point(), server=server, workers=workers, profile="memory")
    if refused is None:
        check_memory([point])
        check_memory([replace(point, profile="cpu", server="hypercorn")])
        return
    with pytest.raises(UserError) as caught:
        check_memory([point])
    message = str(caught.value)
    assert refused in message and f"on {server} with workers = {workers}" in message
    assert "\n" not in message and "profile=none" in message
