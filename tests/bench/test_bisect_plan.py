"""What bisect and history decide before measuring: the pins under every commit, and
which commits a history still has to measure, in which blocks."""

from importlib import metadata

from bench.bisect.history import blocks
from bench.cli.bisect import pins
from bench.deploy.commits import Commit
from bench.results.model import PointResult, Repeat, Run
from bench.scenario import Point


def test_pins_keep_the_given_ones_and_leave_out_the_package_and_what_needs_it():
    got = pins(["daphne==4.1.2", "Django>=4.2,<5"], "channels")
    assert got[:2] == ("daphne==4.1.2", "Django>=4.2,<5")
    names = [p.split("==")[0] for p in got]
    assert "channels" not in names
    assert "channels-redis" not in names  # it requires Channels: left to the resolver
    assert names.count("daphne") == 1 and "django" not in names[2:]
    assert f"asgiref=={metadata.version('asgiref')}" in got


def _commit(n: int) -> Commit:
    return Commit(f"{n:010x}" + "0" * 30, f"commit {n}")


def _run(*commits: Commit) -> Run:
    points = [PointResult(point=Point(env=c.short), repeats=[Repeat(repeat=0)]) for c in commits]
    return Run(points=points)


def test_blocks_measure_only_what_is_missing_each_led_by_the_commit_before():
    series = [_commit(n) for n in range(1, 11)]
    assert blocks(series, []) == [series[0:4], series[3:8], series[7:10]]
    done = [_run(*series[:6])]
    assert blocks(series, done) == [series[5:10]]
    failed = Run(points=[PointResult(point=Point(env=series[6].short), repeats=[])])
    assert blocks(series, [*done, failed]) == [series[5:10]]  # nothing measured: again
    assert blocks(series, [_run(*series)]) == []
