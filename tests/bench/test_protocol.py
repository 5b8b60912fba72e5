"""The message token and the worker's JSON pipe, read and written without a socket."""

from __future__ import annotations

import json

import pytest

from bench.loadgen import WorkerPlan, protocol
from bench.loadgen.link import CONNECTED, PROGRESS, Connected, WorkerProgress, pack, unpack
from bench.results.model import Counts, RoomTally, WorkerResult
from bench.scenario import Point


def test_encode_writes_the_tutorial_frame_with_the_token_as_text():
    frame = protocol.encode(3, 7, 123456789, protocol.MEASURED, "xx")
    assert json.loads(frame) == {"message": "3|7|123456789|m|xx"}


def test_decode_reads_back_what_encode_wrote():
    frame = protocol.encode(12, 0, 987, protocol.WARMUP, "x" * 64)
    assert protocol.decode(frame) == protocol.Token(sender=12, seq=0, sent_ns=987, phase="w")


def test_padding_may_hold_the_separator():
    assert protocol.decode(protocol.encode(1, 2, 3, "m", "a|b|c")) == (1, 2, 3, "m")


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
def test_decode_rejects_malformed_frames(data):
    with pytest.raises(ValueError):
        protocol.decode(data)


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
