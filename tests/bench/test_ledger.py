"""The delivery books, frame by frame, without a socket: the expected numbers are counted
by hand in each test, never by the code under test."""

from __future__ import annotations

import pytest
from helpers import chat_frame

from bench.judge import stats
from bench.loadgen.ledger import DeliveryLedger
from bench.protocols import MEASURED, WARMUP

START_NS = 10_000_000_000  # the measured window: 10 s to 20 s on the monotonic clock
END_NS = 20_000_000_000
MS = 1_000_000


def frame(sender: int, seq: int, sent_ns: int = START_NS, phase: str = MEASURED) -> str:
    return chat_frame(sender, seq, sent_ns, phase, "x" * 8)


def ledger_with(*members: tuple[int, int]) -> DeliveryLedger:
    """A ledger in its measured window, with (client, room) members joined."""
    ledger = DeliveryLedger()
    ledger.window = (START_NS, END_NS)
    for _, room in members:
        ledger.join(room)
    return ledger


def test_phase_follows_the_window():
    ledger = ledger_with()
    assert ledger.phase(START_NS - 1) == WARMUP
    assert ledger.phase(START_NS) == MEASURED
    assert ledger.phase(END_NS - 1) == MEASURED
    assert ledger.phase(END_NS) is None


def test_frames_in_the_window_are_delivered_with_their_latency():
    ledger = ledger_with((0, 0), (1, 0))
    token = ledger.receive(0, 0, frame(1, 0, START_NS), START_NS + 3 * MS)
    ledger.receive(0, 0, frame(1, 1, START_NS + 10 * MS), START_NS + 12 * MS + 500_000)
    ledger.receive(1, 0, frame(1, 0, START_NS), START_NS + 7 * MS)
    assert token is not None and (token.sender, token.seq, token.phase) == (1, 0, MEASURED)
    counts = ledger.counts
    assert (counts.delivered, counts.duplicated, counts.out_of_order) == (3, 0, 0)
    assert (counts.received_in_window, ledger.received) == (3, 3)
    assert list(ledger.latencies_us) == [3000, 2500, 7000]
    assert ledger.rooms[0].delivered == 3
    assert ledger.last_arrival_ns == START_NS + 7 * MS


def test_a_latency_under_a_microsecond_is_the_histograms_lowest_value():
    # 0.4 µs is 0 whole µs, recorded as 1 µs: the histogram's resolution, not a clamp.
    ledger = ledger_with((0, 0))
    ledger.receive(0, 0, frame(0, 0, START_NS), START_NS + 400)
    assert list(ledger.latencies_us) == [0]
    hist = stats.merge_histograms([ledger.histogram()])
    assert (hist.get_total_count(), hist.get_max_value()) == (1, 1)
    assert ledger.counts.negative_latency == 0


def test_a_negative_latency_is_a_harness_error_counted_and_never_clamped():
    # Arrived 2 ms before its stamped send time: a bug in the harness, not a fast server.
    ledger = ledger_with((0, 0))
    ledger.receive(0, 0, frame(1, 0, START_NS + 5 * MS), START_NS + 3 * MS)
    ledger.receive(0, 0, frame(1, 1, START_NS + 5 * MS), START_NS + 8 * MS)
    counts = ledger.counts
    assert (counts.delivered, counts.negative_latency) == (2, 1)
    assert list(ledger.latencies_us) == [3000]  # only the sound one is a sample
    assert stats.merge_histograms([ledger.histogram()]).get_total_count() == 1


def test_a_duplicate_is_counted_once_as_delivered():
    ledger = ledger_with((0, 0))
    for _ in range(3):
        ledger.receive(0, 0, frame(2, 5), START_NS + MS)
    assert (ledger.counts.delivered, ledger.counts.duplicated) == (1, 2)
    assert len(ledger.latencies_us) == 1
    assert ledger.rooms[0].delivered == 1


def test_an_earlier_sequence_number_after_a_later_one_is_out_of_order():
    ledger = ledger_with((0, 0))
    for seq in (0, 2, 1, 3):
        ledger.receive(0, 0, frame(4, seq), START_NS + MS)
    assert (ledger.counts.delivered, ledger.counts.out_of_order) == (4, 1)


def test_sequence_numbers_past_the_first_bitmap_are_tracked():
    ledger = ledger_with((0, 0))
    for seq in (0, 5000, 5000, 4999):
        ledger.receive(0, 0, frame(1, seq), START_NS + MS)
    counts = ledger.counts
    assert (counts.delivered, counts.duplicated, counts.out_of_order) == (3, 1, 1)


def test_a_room_of_three_with_duplicates_reordering_and_loss():
    # Clients 0, 1 and 2 in room 5, each sending measured seq 0 and 1: 6 broadcasts, each
    # owed to 3 members, 18 deliveries expected.
    ledger = ledger_with((0, 5), (1, 5), (2, 5))
    for _ in range(3 * 2):
        ledger.record_send(5, MEASURED)
    arrivals = {
        # in order, plus one duplicate of (1, 1): 6 delivered, 1 duplicated
        0: [(0, 0), (0, 1), (1, 0), (1, 1), (1, 1), (2, 0), (2, 1)],
        # (0, 0) after (0, 1) and (2, 0) after (2, 1): 2 out of order; (2, 0) again: 1 dup
        1: [(0, 1), (0, 0), (1, 0), (1, 1), (2, 1), (2, 0), (2, 0)],
        # (0, 1) and (2, 1) never come: 4 delivered; (1, 0) after (1, 1): 1 out of order;
        # (1, 1) and (2, 0) twice: 2 duplicated
        2: [(0, 0), (1, 1), (1, 0), (1, 1), (2, 0), (2, 0)],
    }
    for receiver, frames in arrivals.items():
        for sender, seq in frames:
            ledger.receive(receiver, 5, frame(sender, seq), START_NS + MS)
    counts = ledger.counts
    assert counts.sent == counts.sent_measured == 6
    assert counts.delivered == 6 + 6 + 4
    assert counts.duplicated == 1 + 1 + 2
    assert counts.out_of_order == 0 + 2 + 1
    assert counts.received_in_window == 6 + 6 + 4  # first deliveries only
    room = ledger.rooms[5]
    assert (room.members, room.sent, room.delivered) == (3, 6, 16)
    assert room.members * room.sent - room.delivered == 2  # lost: (0, 1) and (2, 1) at 2


def test_rooms_are_tallied_apart():
    ledger = DeliveryLedger()
    ledger.window = (START_NS, END_NS)
    for room in (1, 2, 3):
        ledger.open_room(room)  # room 3's only client failed to connect
    ledger.join(1)
    ledger.join(1)
    ledger.join(2)
    ledger.record_send(1, MEASURED)
    ledger.record_send(1, WARMUP)
    ledger.record_send(2, MEASURED)
    ledger.record_send(2, MEASURED)
    ledger.receive(0, 1, frame(0, 0), START_NS + MS)
    ledger.receive(1, 1, frame(0, 0), START_NS + MS)
    ledger.receive(2, 2, frame(2, 0), START_NS + MS)
    tallies = {room: (t.members, t.sent, t.delivered) for room, t in ledger.rooms.items()}
    assert tallies == {1: (2, 1, 2), 2: (1, 2, 1), 3: (0, 0, 0)}
    assert (ledger.counts.sent, ledger.counts.sent_measured) == (4, 3)


def test_warm_up_frames_are_not_accounted():
    ledger = ledger_with((0, 0))
    # One warm-up frame arriving in the warm-up, one arriving late, inside the window.
    before = ledger.receive(0, 0, frame(0, 0, START_NS - 5 * MS, WARMUP), START_NS - MS)
    inside = ledger.receive(0, 0, frame(0, 1, START_NS - MS, WARMUP), START_NS + MS)
    assert before is not None and before.phase == WARMUP
    assert inside is not None and inside.seq == 1
    counts = ledger.counts
    assert (counts.delivered, counts.duplicated, counts.out_of_order) == (0, 0, 0)
    assert len(ledger.latencies_us) == 0
    assert ledger.rooms[0].delivered == 0
    # The warm-up message arriving inside the window is a first delivery there: it
    # counts towards delivered/s (it stands in for a measured one still in flight at the
    # window's end), though not in the delivery books.
    assert (ledger.received, counts.received_in_window) == (2, 1)


def test_measured_frames_arriving_in_the_drain_are_delivered_but_not_in_the_window():
    ledger = ledger_with((0, 0))
    ledger.receive(0, 0, frame(0, 0, END_NS - MS), END_NS + MS)
    assert (ledger.counts.delivered, ledger.counts.received_in_window) == (1, 0)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"<html>", id="not JSON"),
        pytest.param(b'{"text": "0|0|0|m|x"}', id="JSON without message"),
        pytest.param(b'{"message": "0|0|m|x"}', id="wrong field count"),
        pytest.param(b'{"message": "0|zero|0|m|x"}', id="not an integer"),
    ],
)
def test_malformed_frames_are_reported_and_counted(data):
    ledger = ledger_with((0, 0))
    assert ledger.receive(0, 0, data, START_NS + MS) is None
    counts = ledger.counts
    assert (counts.malformed, counts.delivered) == (1, 0)
    # A frame, but not a delivery: not in delivered/s.
    assert (ledger.received, counts.received_in_window) == (1, 0)


def test_a_frame_that_is_not_text_is_counted_as_malformed():
    ledger = ledger_with((0, 0))
    ledger.reject()
    assert (ledger.counts.malformed, ledger.received) == (1, 0)


def test_the_histogram_holds_every_delivery():
    ledger = ledger_with((0, 0), (1, 0))
    for seq in range(50):
        ledger.receive(0, 0, frame(1, seq), START_NS + (seq + 1) * MS)
        ledger.receive(1, 0, frame(1, seq), START_NS + (seq + 2) * MS)
    ledger.receive(0, 0, frame(1, 7), START_NS + MS)  # a duplicate: not a sample
    ledger.receive(0, 0, frame(1, 0, phase=WARMUP), START_NS + MS)  # warm-up: not a sample
    hist = stats.merge_histograms([ledger.histogram()])
    assert ledger.counts.delivered == 100
    assert hist.get_total_count() == 100
    assert hist.get_max_value() == pytest.approx(51_000, rel=1e-3)  # µs


def test_an_empty_ledger_has_an_empty_histogram():
    assert stats.merge_histograms([DeliveryLedger().histogram()]).get_total_count() == 0


def test_recent_p99_covers_the_deliveries_since_the_last_call():
    ledger = ledger_with((0, 0))
    for seq in range(100):  # latencies 1 ms .. 100 ms
        ledger.receive(0, 0, frame(1, seq), START_NS + (seq + 1) * MS)
    # Linear interpolation at rank 0.99 * 99 = 98.01: 99 ms + 0.01 * 1 ms.
    assert ledger.recent_p99_ms() == pytest.approx(99.01)
    assert ledger.recent_p99_ms() is None
    ledger.receive(0, 0, frame(1, 100), START_NS + 4 * MS)
    assert ledger.recent_p99_ms() == pytest.approx(4.0)


# --- delivered/s counts good deliveries ----------------------------------------------------


def test_a_duplicate_frame_is_not_counted_in_delivered_per_second():
    ledger = ledger_with((0, 0), (1, 0))
    for _ in range(3):  # one message, three times, to the same receiver
        ledger.receive(0, 0, frame(1, 0), START_NS + MS)
    ledger.receive(1, 0, frame(1, 0), START_NS + MS)  # the same message, its other receiver
    for _ in range(2):  # a warm-up straggler inside the window, twice
        ledger.receive(0, 0, frame(1, 9, START_NS - MS, WARMUP), START_NS + MS)
    ledger.receive(0, 0, b"<html>", START_NS + MS)
    counts = ledger.counts
    assert counts.received_in_window == 1 + 1 + 1
    assert (counts.delivered, counts.duplicated, counts.malformed) == (2, 2, 1)
    assert ledger.received == 3 + 1 + 2 + 1  # every frame, parsed or not
    assert ledger.deliveries == 3


# --- lateness of scheduled sends ---------------------------------------------------------


def test_each_measured_send_records_its_lateness():
    ledger = ledger_with((0, 0))
    ledger.record_send(0, WARMUP, START_NS - 10 * MS, START_NS - 9 * MS)  # not measured
    ledger.record_send(0, MEASURED, START_NS, START_NS + 250_000)  # 250 µs late
    ledger.record_send(0, MEASURED, START_NS + MS, START_NS + MS)  # on time: 0 µs
    ledger.record_send(0, MEASURED, START_NS + 2 * MS)  # closed loop: no schedule
    assert list(ledger.lateness_us) == [250, 0]
    hist = stats.merge_histograms([ledger.lateness_histogram()])
    assert hist.get_total_count() == 2
    assert hist.get_max_value() == pytest.approx(250, rel=1e-3)
    assert ledger.counts.sent_early == 0
    ledger.close_books()
    assert ledger.rooms[0].sends_us == [0, 1000, 2000]


def test_a_send_before_its_intended_time_is_counted_not_recorded():
    ledger = ledger_with((0, 0))
    ledger.record_send(0, MEASURED, START_NS + MS, START_NS + MS - 300_000)
    assert ledger.counts.sent_early == 1
    assert len(ledger.lateness_us) == 0


# --- a receiver that leaves -------------------------------------------------------------


def test_a_member_that_left_is_owed_nothing_sent_after_it_left():
    # Room 0: clients 0, 1 and 2, all here. Client 2 leaves 2.5 ms into the window.
    # Sends (each to all 3 members): 0 at 0 ms, 1 at 1 ms, 0 at 2 ms, 1 at 3 ms, 0 at 4 ms.
    # Owed: 3 members x 5 sends = 15, less the sends at 3 ms and 4 ms to client 2: 13.
    ledger = ledger_with((0, 0), (1, 0), (2, 0))
    for at_ms in range(5):
        ledger.record_send(0, MEASURED, START_NS + at_ms * MS)
    ledger.leave(0, START_NS + 2 * MS + 500_000)
    assert ledger.expected() == 13
    assert ledger.rooms[0].departures_us == [2500]
    assert ledger.rooms[0].receiver_gone() == 2


def test_a_member_that_left_before_the_window_is_owed_nothing_measured():
    ledger = DeliveryLedger()
    ledger.join(0)
    ledger.join(0)
    ledger.leave(0, 5 * MS)  # before the runner's start: the window is not known yet
    ledger.window = (START_NS, END_NS)
    for at_ms in range(4):
        ledger.record_send(0, MEASURED, START_NS + at_ms * MS)
    assert ledger.expected() == 2 * 4 - 4
    assert ledger.rooms[0].departures_us == [(5 * MS - START_NS) // 1000]


def test_the_books_ship_send_times_only_where_a_count_needs_them():
    # Rooms 0 and 1; a member of room 1 left. When this worker holds every client of its
    # rooms, room 0's send times are needed by nobody; when rooms are shared, another
    # worker's member of room 0 may have left, so they all go.
    ledger = ledger_with((0, 0), (1, 1))
    ledger.record_send(0, MEASURED, START_NS + MS)
    ledger.record_send(1, MEASURED, START_NS + 2 * MS)
    ledger.leave(1, START_NS + 3 * MS)
    ledger.close_books(every_room=False)
    shipped = {room: (t.sends_us, t.departures_us) for room, t in ledger.rooms.items()}
    assert shipped == {0: ([], []), 1: ([2000], [3000])}
    ledger.close_books(every_room=True)
    assert ledger.rooms[0].sends_us == [1000]


# --- a receiver that leaves and comes back (churn under load) ---------------------------


def test_a_member_away_is_owed_nothing_sent_while_it_was_away():
    # Room 0: clients 0 and 1. Client 1 leaves at 1.5 ms and is back at 3.5 ms.
    # Sends at 0, 1, 2, 3, 4 ms, each to both: 10, less client 1's at 2 and 3 ms: 8.
    ledger = ledger_with((0, 0), (1, 0))
    for at_ms in range(5):
        ledger.record_send(0, MEASURED, START_NS + at_ms * MS)
    absence = ledger.go_away(1, 0, START_NS + 1 * MS + 500_000)
    ledger.come_back(absence, START_NS + 3 * MS + 500_000)
    assert ledger.expected() == 8
    assert ledger.rooms[0].away_us == [[1500, 3500]]
    assert ledger.rooms[0].away() == 2


def test_what_arrives_for_a_member_while_away_is_neither_delivered_nor_lost():
    ledger = ledger_with((0, 0), (1, 0))
    absence = ledger.go_away(1, 0, START_NS + 2 * MS)
    # Sent before it left: still owed, and delivered when it arrives (while lingering).
    ledger.record_send(0, MEASURED, START_NS + 1 * MS)
    assert ledger.receive(1, 0, frame(0, 0, START_NS + 1 * MS), START_NS + 3 * MS)
    # Sent while it was away, arriving on the new connection after it was back.
    ledger.record_send(0, MEASURED, START_NS + 2 * MS)
    ledger.come_back(absence, START_NS + 4 * MS)
    assert ledger.receive(1, 0, frame(0, 1, START_NS + 2 * MS), START_NS + 5 * MS)
    # Sent after it was back: owed and delivered.
    ledger.record_send(0, MEASURED, START_NS + 4 * MS)
    ledger.receive(1, 0, frame(0, 2, START_NS + 4 * MS), START_NS + 6 * MS)
    assert ledger.counts.away_arrivals == 1
    assert ledger.counts.delivered == 2
    # Client 0 is owed all 3, client 1 the two outside its absence.
    assert ledger.expected() == 5


def test_an_absence_that_never_ends_owes_nothing_after_it_began():
    ledger = ledger_with((0, 0), (1, 0))
    ledger.go_away(1, 0, START_NS + 1 * MS)  # its reconnect failed
    for at_ms in range(4):
        ledger.record_send(0, MEASURED, START_NS + at_ms * MS)
    assert ledger.expected() == 4 + 1
