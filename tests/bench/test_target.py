"""A ``--target`` read and made one system, without a network or a process: the URL's
checks, the clients' URL and Origin, and the scenario keys a target does not cross."""

from __future__ import annotations

import pytest

from bench.errors import UserError
from bench.run import target
from bench.scenario import Point
from bench.scenario.parse import from_dict


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ("http://127.0.0.1:8000", "ws://"),
        ("127.0.0.1:8000", "ws://"),
        ("ws://", "host"),
        ("ws://127.0.0.1:99999/", "99999"),
        ("ws://127.0.0.1:0/", "'0'"),
        ("ws://127.0.0.1:http/", "http"),
    ],
)
def test_a_url_that_is_not_a_websocket_server_is_refused(given, named):
    with pytest.raises(UserError) as info:
        target.parse(given)
    assert named in str(info.value)
    assert "\n" not in str(info.value)


def test_credentials_stay_out_of_the_clients_url_and_are_masked_when_shown():
    t = target.parse("ws://bob:s3cret@127.0.0.1:8000/ws/chat/{room}/")
    assert t.has_credentials
    assert t.url == "ws://127.0.0.1:8000/ws/chat/{room}/"
    assert "s3cret" not in t.shown and "bob" in t.shown
    assert t.template(Point()) == t.url


def test_a_base_url_takes_chanbenchs_own_route_and_a_routed_one_is_kept():
    base = target.parse("ws://127.0.0.1:8000/")
    assert not base.routed
    assert base.template(Point(consumer="sync")) == "ws://127.0.0.1:8000/ws/sync/chat/{room}/"
    routed = target.parse("ws://127.0.0.1:8000/ws/chat/{room}")
    assert routed.template(Point(consumer="sync")) == "ws://127.0.0.1:8000/ws/chat/{room}"


@pytest.mark.parametrize(
    ("given", "origin", "port"),
    [
        ("ws://127.0.0.1:8000/{room}/", "http://127.0.0.1:8000", 8000),
        ("ws://[::1]:8001/{room}/", "http://[::1]:8001", 8001),
        ("ws://localhost/{room}/", "http://localhost:80", 80),
        ("wss://localhost/{room}/", "https://localhost:443", 443),
    ],
)
def test_origin_and_port(given, origin, port):
    t = target.parse(given)
    assert (t.origin, t.port) == (origin, port)


def scenario(overrides=(), **matrix):
    return from_dict({"name": "t", "matrix": matrix}, "t.toml", overrides)


def test_the_servers_keys_are_not_crossed_for_a_target():
    one, ignored = target.one_system(
        scenario(consumer=["sync", "async"], layer="memory", clients=[4, 8])
    )
    assert set(ignored) == {"consumer", "layer"}
    assert [p.clients for p in one.points()] == [4, 8]
    assert one.varying() == ["clients"]


def test_nothing_is_said_to_be_ignored_when_the_scenario_sets_none_of_them():
    one, ignored = target.one_system(scenario(clients=4))
    assert ignored == []
    assert len(one.points()) == 1


@pytest.mark.parametrize("key", ["consumer=sync", "layer=redis", "server=uvicorn"])
def test_a_servers_key_set_on_the_command_line_is_refused(key):
    with pytest.raises(UserError) as info:
        target.one_system(scenario([key], clients=4))
    assert key.split("=")[0] in str(info.value)


def test_server_pid_needs_a_target_and_a_process():
    t = target.parse("ws://127.0.0.1:8000/{room}/")
    target.check_server_pid(None, None)
    for pid, t_ in ((1234, None), (-1, t), (0, t)):
        with pytest.raises(UserError):
            target.check_server_pid(pid, t_)


def test_an_old_target_result_crossed_with_consumer_keeps_its_points_apart():
    """Written before a target was one system: sync and async against one URL."""
    from bench.report.layout import line_names
    from bench.results.model import PointResult, Run

    points = [PointResult(id=c, label=c, point=Point(consumer=c)) for c in ("sync", "async")]
    run = Run(target="ws://127.0.0.1:8000", points=points)
    names = {line_names(run, p) for p in points}
    assert len(names) == 2
    assert all(name.startswith("target") and layer == "" for name, layer in names)
    run.points = points[:1]
    assert line_names(run, points[0]) == ("target", "")
