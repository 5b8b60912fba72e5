"""Churn's settings as the server and the driver see them: no process started."""

import os

import pytest

from bench.deploy.site import ServerSettings
from bench.errors import UserError
from bench.run import churn
from bench.run.preflight import check_limits
from bench.scenario import Point, load


def test_a_churn_point_serves_the_probe_and_a_plain_one_does_not():
    assert ServerSettings(Point(cycles=3)).environ()["CHANBENCH_PROBE"] == "1"
    assert ServerSettings(Point()).environ()["CHANBENCH_PROBE"] == "0"


def test_malloc_allocator_reaches_the_server():
    env = ServerSettings(Point(allocator="malloc")).environ()
    assert env["PYTHONMALLOC"] == "malloc" and env["MALLOC_ARENA_MAX"] == "2"
    # The default leaves the allocator as the environment has it.
    assert ServerSettings(Point()).environ().get("PYTHONMALLOC") == os.environ.get("PYTHONMALLOC")


def test_settle_follows_the_server_kind_unless_set():
    seconds, why = churn.settle(Point(server="daphne"))
    assert seconds == 2.0 and "application_close_timeout" in why
    assert churn.settle(Point(server="uvicorn"))[0] == churn.DEFAULT_SETTLE[0]
    assert churn.settle(Point(settle_s=12.0)) == (12.0, "settle_s as the scenario set it")


def test_sources_say_why_a_counter_cannot_be_read():
    target = churn.where_for(Point(cycles=5), server_pid=123, port=None, redis_url=None)
    assert target.probe_url is None
    assert "--target" in target.unavailable["asyncio_tasks"]
    assert "rss_bytes" not in target.unavailable
    assert target.unavailable["redis_keys"] == "no Redis in this run"
    blind = churn.where_for(Point(cycles=5), server_pid=None, port=None, redis_url=None)
    assert "--server-pid" in blind.unavailable["rss_bytes"]
    workers = churn.where_for(Point(cycles=5, workers=2), 123, 8000, "redis://x")
    assert "several server processes" in workers.unavailable["gc_objects"]
    assert workers.redis_url == "redis://x"
    own = churn.where_for(Point(cycles=5), 123, 8000, None)
    assert own.probe_url == f"http://127.0.0.1:8000{churn.PROBE_PATH}"


def test_allocated_blocks_are_not_read_under_malloc():
    where = churn.where_for(Point(cycles=5, allocator="malloc"), 123, 8000, None)
    assert "pymalloc" in where.unavailable["allocated_blocks"]
    assert "allocated_blocks" not in churn.where_for(Point(cycles=5), 123, 8000, None).unavailable


def test_staircase_steps_double_up_to_idle_max():
    assert Point(idle_max=16000, idle_steps=5).idle_counts == [0, 1000, 2000, 4000, 8000, 16000]
    assert Point(idle_max=3, idle_steps=5).idle_counts == [0, 1, 3]  # 3 >> 2 = 0 is dropped
    assert Point().idle_counts == [] and not Point().churn
    assert Point(idle_max=10).churn  # the probe is served for a staircase too


def test_a_staircase_past_the_open_file_limit_is_refused_before_it_starts():
    with pytest.raises(UserError, match=r"^stairs.toml: idle_max = 10000000 needs about"):
        check_limits("stairs.toml", [Point(idle_max=10**7)])


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ("reconnect_per_s = 2", "reconnect_per_s = 2 with mode = 'closed'"),
        ("mode = 'open'\nreconnect_per_s = -1", "reconnect_per_s = -1: must be >= 0"),
        ("sample_s = 5\ncycles = 3", "sample_s = 5 with cycles or idle_max"),
        ("sample_s = -5", "sample_s = -5: must be >= 0"),
    ],
)
def test_soak_and_reconnect_settings_refuse_what_cannot_run(tmp_path, matrix, message):
    path = tmp_path / "s.toml"
    path.write_text(f"[matrix]\n{matrix}\n")
    with pytest.raises(UserError) as info:
        load(path)
    assert message in str(info.value)


def test_a_soak_serves_the_probe():
    assert Point(sample_s=5, mode="open").churn
    assert ServerSettings(Point(sample_s=5)).environ()["CHANBENCH_PROBE"] == "1"


def test_a_soak_judges_per_reconnect_made_after_the_warm_up():
    from bench.results.churn import Churn, Cycle
    from bench.run.soak import Sampler, connections_per_sample

    # Reconnects so far at each sample: 3, 9, 15, 21, 27; warm-up 2 samples, so from
    # the last warm-up sample (9) to the last (27): 18 over 3 samples.
    churn = Churn(cycles=[Cycle(index=i, reconnects=3 + 6 * i) for i in range(5)])
    point = Point(mode="open", sample_s=5.0, reconnect_per_s=1.0, clients=40)
    assert connections_per_sample(point, churn) == (6.0, "reconnect")
    # None reconnect: per connection held.
    held = connections_per_sample(Point(sample_s=5.0, clients=40), churn)
    assert held == (40.0, "connection held, per sample")
    # A soak of 60 s at 5 s has 12 samples; the last lands at the window's end.
    sampler = Sampler(Point(warmup_s=5, duration_s=55, sample_s=5), None, churn, None)  # type: ignore[arg-type]
    assert sampler.samples() == 12


def test_a_soak_told_never_to_read_the_probe_says_so():
    where = churn.where_for(Point(sample_s=5, probe_every=0), 123, 8000, None)
    assert where.probe_url is None
    assert "probe_every = 0" in where.unavailable["gc_objects"]
    assert "rss_bytes" not in where.unavailable
    every = churn.where_for(Point(sample_s=5, probe_every=3), 123, 8000, None)
    assert every.probe_url == f"http://127.0.0.1:8000{churn.PROBE_PATH}"


@pytest.mark.parametrize(
    "point",
    [
        Point(cycles=12, messages=5, duration_s=0.5),
        Point(idle_max=1000),
        Point(mode="open", sample_s=5.0, reconnect_per_s=2.0, duration_s=60.0),
        Point(cycles=4, profile="memory"),
    ],
    ids=["churn", "staircase", "soak", "profiled"],
)
def test_the_load_generator_is_calibrated_on_a_steady_load(point):
    # The ceiling of the same clients and rooms: never a churn, staircase or soak run
    # against the reference server (which has no probe), nor a profiled one.
    from bench.run.runner import calibration_point

    calib = calibration_point(point)
    assert not calib.churn and calib.messages == 0 and calib.profile == "none"
    assert (calib.clients, calib.room_count) == (point.clients, point.room_count)
    assert calib.mode == "closed" and calib.duration_s <= 3.0
