"""The message token, the protocols that carry it, and the worker's JSON pipe, read and
written without a socket."""

from __future__ import annotations

import json
import textwrap

import pytest
from helpers import chat_frame

from bench.errors import UserError
from bench.loadgen import WorkerPlan
from bench.loadgen.link import CONNECTED, PROGRESS, Connected, WorkerProgress, pack, unpack
from bench.protocols import DEFAULT_PROTOCOL, MEASURED, WARMUP, Token, load, read_token
from bench.protocols.chat import Chat
from bench.results.model import Counts, RoomTally, WorkerResult
from bench.scenario import Point


def decode(frame: str | bytes) -> Token:
    return read_token(Chat().token(frame) or "")


def test_the_chat_writes_the_tutorial_frame_with_the_token_as_text():
    frame = chat_frame(3, 7, 123456789, MEASURED, "xx")
    assert json.loads(frame) == {"message": "3|7|123456789|m|xx"}


def test_the_token_reads_back_what_was_written():
    frame = chat_frame(12, 0, 987, WARMUP, "x" * 64)
    assert decode(frame) == Token(sender=12, seq=0, sent_ns=987, phase="w")


def test_padding_may_hold_the_separator():
    assert decode(chat_frame(1, 2, 3, "m", "a|b|c")) == (1, 2, 3, "m")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"hello", id="not JSON"),
        pytest.param(b"\xff\xfe{", id="not UTF-8"),
        pytest.param(b'["0|0|0|m|x"]', id="a JSON array"),
        pytest.param(b'"0|0|0|m|x"', id="a JSON string"),
        pytest.param(b'{"text": "0|0|0|m|x"}', id="no message"),
        pytest.param(b'{"message": 5}', id="message not text"),
        pytest.param(b'{"message": "0|0|0|m"}', id="four fields"),
        pytest.param(b'{"message": "hello from a browser"}', id="one field"),
        pytest.param(b'{"message": "a|0|0|m|x"}', id="sender not an integer"),
        pytest.param(b'{"message": "0|1.5|0|m|x"}', id="seq not an integer"),
        pytest.param(b'{"message": "0|0|soon|m|x"}', id="send time not an integer"),
    ],
)
def test_malformed_chat_frames_raise(data):
    with pytest.raises(Exception):  # noqa: B017 - any exception: the ledger's malformed
        decode(data)


def write_module(tmp_path, name: str, text: str) -> str:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    return str(tmp_path)


def test_a_protocol_is_found_by_dotted_path_beside_the_scenario(tmp_path):
    folder = write_module(
        tmp_path,
        "proto_found",
        """
        class PingPong:
            recipients = "sender"
            path = "/ws/ping/{room}/"
            binary = True

            def message(self, token):
                return token.encode()

            def token(self, frame):
                return frame.decode()

            def headers(self, client):
                return {"Cookie": f"c={client}"}

            def hello(self, client, room):
                return [b"join"]
        """,
    )
    loaded = load("proto_found:PingPong", [folder])
    assert (loaded.recipients, loaded.binary, loaded.path) == ("sender", True, "/ws/ping/{room}/")
    assert loaded.headers(3) == {"Cookie": "c=3"}
    assert loaded.hello(1, 2) == [b"join"]
    assert loaded.token(loaded.message("1|2|3|m|")) == "1|2|3|m|"


def test_the_optional_members_default_to_the_chats_ways(tmp_path):
    folder = write_module(
        tmp_path,
        "proto_bare",
        """
        class Bare:
            def message(self, token):
                return token

            def token(self, frame):
                return frame
        """,
    )
    loaded = load("proto_bare:Bare", [folder])
    assert (loaded.recipients, loaded.binary, loaded.path) == ("room", False, None)
    assert (loaded.headers(0), loaded.hello(0, 0)) == ({}, [])
    assert load(DEFAULT_PROTOCOL).recipients == "room"


@pytest.mark.parametrize(
    ("spec", "text", "said"),
    [
        ("nocolon", "", "give module:Class"),
        ("proto_missing_mod:X", None, "cannot import proto_missing_mod"),
        ("proto_broken:X", "import nothing_here_at_all\n", "cannot import proto_broken"),
        ("proto_noclass:X", "class Y: pass\n", "has no X"),
        (
            "proto_notoken:X",
            "class X:\n    def message(self, token): return token\n",
            "X lacks token",
        ),
        (
            "proto_badrec:X",
            "class X:\n    recipients = 'all'\n    def message(self, t): return t\n"
            "    def token(self, f): return f\n",
            "recipients = 'all'",
        ),
    ],
)
def test_a_protocol_that_cannot_work_is_one_line(tmp_path, spec, text, said):
    if text is not None:
        write_module(tmp_path, spec.split(":")[0], text)
    with pytest.raises(UserError) as caught:
        load(spec, [str(tmp_path)])
    message = str(caught.value)
    assert said in message and "\n" not in message


def test_worker_messages_are_json_arrays():
    data = pack("start", 123)
    assert json.loads(data) == ["start", 123]
    assert unpack(data) == ("start", 123)
    assert unpack(pack("stop", None)) == ("stop", None)


@pytest.mark.parametrize("data", [b"\x80\x04K\x01.", b'{"start": 1}', b"[1, 2]", b'["stop"]'])
def test_unpack_rejects_what_is_not_kind_and_value(data):
    with pytest.raises(ValueError):
        unpack(data)


def test_plan_and_result_cross_the_pipe_as_json():
    plan = WorkerPlan(
        worker=1,
        clients=[(0, 0), (3, 1)],
        url_template="ws://127.0.0.1:1/ws/async/chat/{room}/",
        origin="http://127.0.0.1:1",
        point=Point(clients=4, mode="open", rate=20.0, arrival="poisson", compression=True),
        seed=7,
    )
    assert WorkerPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    result = WorkerResult(
        worker=1,
        clients=2,
        counts=Counts(connected=2, delivered=5),
        rooms={0: RoomTally(1, 3, 2), 1: RoomTally(1, 2, 3)},
    )
    _, value = unpack(pack("result", result))
    assert WorkerResult.from_json(value) == result


def test_the_workers_reports_cross_the_pipe_as_records():
    connected = Connected(3, 1, {"ConnectionRefusedError": 1})
    kind, value = unpack(pack(CONNECTED, connected))
    assert kind == CONNECTED and Connected.from_json(value) == connected
    progress = WorkerProgress(t_ns=5, sent=10, received=90, p99_ms=None)
    kind, value = unpack(pack(PROGRESS, progress))
    assert kind == PROGRESS and WorkerProgress.from_json(value) == progress


def test_the_docs_example_protocol_works_as_written(tmp_path):
    """docs/own-consumer.md's protocol, copied from the page: it loads, and its reply
    carries back the token its request sent."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "own-consumer.md").read_text()
    code = page.split("```python\n", 1)[1].split("```", 1)[0]
    scenario = page.split("```toml\n", 1)[1].split("```", 1)[0]
    assert len(code.splitlines()) + len(scenario.splitlines()) < 30  # the page's promise
    (tmp_path / "docs_proto.py").write_text(code)
    loaded = load("docs_proto:PingPong", [str(tmp_path)])
    sent = json.loads(loaded.message("1|2|3|m|xx"))
    assert sent == {"type": "ping", "id": "1|2|3|m|xx"}
    reply = json.dumps({"type": "pong", "id": sent["id"]})
    assert read_token(loaded.token(reply) or "") == (1, 2, 3, "m")
    assert loaded.token(json.dumps({"type": "hello"})) is None
    assert loaded.recipients == "sender"
