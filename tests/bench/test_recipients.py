"""A user's protocol in the books, frame by frame without a socket: who is owed each
message (``recipients``), frames that answer nothing, and replies that cannot be read.
The expected numbers are counted by hand in each test."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from bench.loadgen.ledger import DeliveryLedger
from bench.loadgen.worker import Worker, WorkerPlan
from bench.protocols import MEASURED, make_token
from bench.scenario import Point

START_NS = 10_000_000_000
END_NS = 20_000_000_000
MS = 1_000_000


class PingPong:
    """A reply-to-sender protocol as the docs describe one (not the chat's format)."""

    recipients = "sender"

    def message(self, token: str) -> str:
        return json.dumps({"type": "ping", "id": token})

    def token(self, frame: str | bytes) -> str | None:
        data = json.loads(frame)
        return data.get("id") if data.get("type") == "pong" else None


class Shout(PingPong):
    """Room broadcast in a JSON format of its own."""

    recipients = "room"

    def token(self, frame: str | bytes) -> str | None:
        data = json.loads(frame)
        return data["payload"]["ref"] if data["kind"] == "said" else None


class Fire(PingPong):
    recipients = "none"


def pong(sender: int, seq: int, sent_ns: int = START_NS) -> str:
    return json.dumps({"type": "pong", "id": make_token(sender, seq, sent_ns, MEASURED, "x")})


def ledger_for(protocol: Any, *rooms: int) -> DeliveryLedger:
    ledger = DeliveryLedger(protocol)
    ledger.window = (START_NS, END_NS)
    for room in rooms:
        ledger.join(room)
    return ledger


def test_room_recipients_with_a_json_format_of_its_own():
    ledger = ledger_for(Shout(), 0, 0, 0)  # three members in room 0
    ledger.record_send(0, MEASURED, START_NS)
    said = json.dumps(
        {"kind": "said", "payload": {"ref": make_token(1, 0, START_NS, MEASURED, "")}}
    )
    for receiver in (0, 1, 2):
        ledger.receive(receiver, 0, said, START_NS + 2 * MS)
    assert ledger.expected() == 3  # every member, the sender included
    assert ledger.counts.delivered == 3
    assert list(ledger.latencies_us) == [2000, 2000, 2000]


def test_none_recipients_count_what_was_sent_and_owe_nothing():
    ledger = ledger_for(Fire(), 0, 0)
    for seq in range(4):
        ledger.record_send(0, MEASURED, START_NS + seq * MS)
    assert (ledger.counts.sent, ledger.counts.sent_measured) == (4, 4)
    assert ledger.expected() == 0
    assert ledger.rooms[0].sent == 0


def test_a_frame_that_answers_nothing_is_counted_and_ignored():
    ledger = ledger_for(PingPong(), 0)
    token = ledger.receive(0, 0, json.dumps({"type": "presence", "who": 3}), START_NS + MS)
    assert token is not None and token.sender == -1  # UNMATCHED: no client's echo
    counts = ledger.counts
    assert (counts.unmatched, counts.malformed, counts.delivered) == (1, 0, 0)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param("not json", id="token() raises"),
        pytest.param(json.dumps({"type": "pong", "id": "abc"}), id="a foreign token"),
        pytest.param(json.dumps({"type": "pong", "id": 7}), id="a token not text"),
        pytest.param(json.dumps({"type": "pong", "id": "1|x|3|m|"}), id="a garbled token"),
    ],
)
def test_a_reply_that_cannot_be_read_is_malformed(frame):
    ledger = ledger_for(PingPong(), 0)
    assert ledger.receive(0, 0, frame, START_NS + MS) is None
    assert (ledger.counts.malformed, ledger.counts.delivered) == (1, 0)


class FakeClient:
    """Stands in for the transport only: the books and the pacing are the worker's own."""

    def __init__(self, index: int, room: int, book: int) -> None:
        self.index, self.room, self.book = index, room, book
        self.alive = True
        self.away = False
        self.seq = 0
        self.waiting_since_ns = 0
        self.hung_up = False

    def send(self, intended_ns: int, phase: str) -> None:
        self.seq += 1

    def hang_up(self) -> None:
        self.hung_up = True


def test_sender_recipients_owe_each_message_to_its_sender_alone(tmp_path):
    (tmp_path / "proto_pp.py").write_text(
        "import json\n"
        "class PingPong:\n"
        "    recipients = 'sender'\n"
        "    def message(self, token):\n"
        "        return json.dumps({'type': 'ping', 'id': token})\n"
        "    def token(self, frame):\n"
        "        data = json.loads(frame)\n"
        "        return data.get('id') if data.get('type') == 'pong' else None\n"
    )
    # Four clients in one room, in one worker; the books give each a room of its own.
    plan = WorkerPlan(
        worker=0,
        clients=[(0, 0), (1, 0), (2, 0), (3, 0)],
        url_template="ws://127.0.0.1:1/{room}",
        origin="http://127.0.0.1:1",
        point=Point(clients=4, mode="open", protocol="proto_pp:PingPong"),
        protocol_paths=[str(tmp_path)],
    )
    worker = Worker(plan, link=None)  # type: ignore[arg-type]
    clients = [worker._new_client(i, r) for i, r in plan.clients]
    assert [c.book for c in clients] == [0, 1, 2, 3]
    fakes = [FakeClient(c.index, c.room, c.book) for c in clients]
    now = time.monotonic_ns()
    worker.ledger.window = (now - 1000 * MS, now + 10_000 * MS)
    for fake in fakes:
        worker.ledger.join(fake.book)
    for fake in fakes[:3]:  # three of the four send once
        worker._send_next(fake, now)  # type: ignore[arg-type]
    assert worker.ledger.expected() == 3  # not 3 x 4 as a room broadcast would owe
    for fake in fakes[:2]:
        worker.on_message(fake, pong(fake.index, 0, now))  # type: ignore[arg-type]
    assert worker.ledger.counts.delivered == 2
    worker.on_message(fakes[3], json.dumps({"type": "hello"}))  # type: ignore[arg-type]
    worker.on_message(fakes[2], "garbled")  # type: ignore[arg-type]
    counts = worker.ledger.counts
    assert (counts.unmatched, counts.malformed) == (1, 1)
    # The garbled reply drops that client alone; the others stay up.
    assert [f.hung_up for f in fakes] == [False, False, True, False]
    assert worker._whole_rooms()
