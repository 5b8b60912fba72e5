"""A scenario's protocol and its own routes (``[consumers.NAME]``), checked as the file
is read: before any process starts, each mistake one line and exit 2."""

from __future__ import annotations

import textwrap

import pytest
from helpers import one_error_line

from bench.cli import main
from bench.errors import UserError
from bench.scenario import Point, from_dict, load

ROUTES = {"sync": {"path": "/ws/ping/sync/{room}/"}, "async": {"path": "/ws/ping/async/{room}/"}}
PROTO = """
import json

class PingPong:
    recipients = "{recipients}"

    def message(self, token):
        return json.dumps({{"type": "ping", "id": token}})

    def token(self, frame):
        return json.loads(frame).get("id")
"""


def scenario_in(tmp_path, matrix: str, recipients: str = "sender", head: str = "") -> str:
    """A scenario beside its protocol module ``myproto_<test folder>`` (a module name of
    its own per test: Python imports one module of a name once)."""
    name = f"myproto_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(PROTO.format(recipients=recipients))
    matrix = matrix.replace("myproto:", f"{name}:")
    path = tmp_path / "own.toml"
    path.write_text(f'name = "own"\n{head}\n[matrix]\n{textwrap.dedent(matrix)}')
    return str(path)


def test_the_protocol_is_imported_from_beside_the_scenario_and_routes_are_named(tmp_path):
    head = '[consumers.sync]\npath = "/ws/ping/sync/{room}/"\n[consumers.fast]\n'
    head += 'path = "/ws/ping/async/{room}/"\n'
    path = scenario_in(
        tmp_path, 'consumer = ["sync", "fast"]\nprotocol = "myproto:PingPong"\n', head=head
    )
    scenario = load(path)
    assert [p.consumer for p in scenario.points()] == ["sync", "fast"]
    assert {p.protocol.split("_")[0] for p in scenario.points()} == {"myproto"}
    assert scenario.consumers["fast"].path == "/ws/ping/async/{room}/"


@pytest.mark.parametrize(
    ("consumers", "said"),
    [
        ({"a": {"path": "ws/ping/{room}/"}}, "first slash"),
        ({"a": {"path": "/ws/ping/"}}, "{room}"),
        ({"a": {"route": "/ws/{room}/"}}, "give path"),
        ({"a": "/ws/{room}/"}, "give path"),
    ],
)
def test_a_route_that_cannot_work_is_refused(consumers, said):
    with pytest.raises(UserError, match=r"consumers\.a") as caught:
        from_dict({"consumers": consumers, "matrix": {"clients": 2}}, "s.toml")
    assert said in str(caught.value)


def test_a_consumer_not_named_anywhere_is_refused():
    with pytest.raises(UserError, match=r"'mine': must be one of sync, async$"):
        from_dict({"consumers": ROUTES, "matrix": {"consumer": "mine"}}, "s.toml")


def test_nothing_owed_cannot_pace_a_closed_loop(tmp_path):
    path = scenario_in(tmp_path, 'protocol = "myproto:PingPong"\nmode = "closed"\n', "none")
    with pytest.raises(UserError, match='set mode = "open"'):
        load(path)
    (tmp_path / "open").mkdir()
    load(scenario_in(tmp_path / "open", 'protocol = "myproto:PingPong"\nmode = "open"\n', "none"))


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("myproto:Nope", "has no Nope"),
        ("nosuchmodule_xyz:P", "cannot import nosuchmodule_xyz"),
        ("lacking:P", "P lacks token"),
    ],
)
def test_a_protocol_that_cannot_work_is_one_line_exit_2(tmp_path, capsys, option, said):
    (tmp_path / "lacking.py").write_text("class P:\n    def message(self, t):\n        return t\n")
    path = scenario_in(tmp_path, "clients = 2\n")
    option = option.replace("myproto:", f"myproto_{tmp_path.name.replace('-', '_')}:")
    code = main(["run", path, "--protocol", option, "--results-dir", str(tmp_path / "r")])
    assert code == 2
    assert said in one_error_line(capsys)
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").iterdir())


def test_the_report_says_who_receives_each_message(tmp_path):
    from bench.report.provenance import delivery_words

    scenario = load(scenario_in(tmp_path, 'protocol = "myproto:PingPong"\n'))
    (point,) = scenario.points()
    assert scenario.recipients == {point.protocol: "sender"}
    words = delivery_words(scenario, point)
    assert "sender alone" in words and "no group" in words and point.protocol in words
    assert "tutorial's chat" in delivery_words(scenario, Point())
