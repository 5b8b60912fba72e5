"""A repeat merged from its workers' books: deliveries owed to receivers that had left
(across workers), and the open loop's send lateness. Expected numbers by hand."""

from __future__ import annotations

import numpy as np
import pytest

from bench.judge import stats
from bench.results.model import Counts, Repeat, RoomTally, WorkerResult

MS_US = 1000  # the tallies count µs from the window's start


def test_a_receiver_that_left_mid_window_is_owed_nothing_after_it_left():
    """Room 0 has 3 members: clients 0 and 1 in worker A, client 2 in worker B.

    A's client 0 sends at 0, 10, 20 and 30 ms; B's client 2 at 5 and 15 ms, then leaves
    at 22 ms; A's client 1 leaves at 12 ms. 6 sends to 3 members: 18, less what was sent
    after a member left: client 1, the sends at 15, 20 and 30 ms (3); client 2, the send
    at 30 ms (1), one of A's, which B alone cannot know. Expected 18 - 4 = 14.
    Delivered: client 0 all 6; client 1 the 3 before it left (0, 5, 10); client 2 four
    of the 5 before it left (10 ms never came): 13. Lost: 1."""
    a = WorkerResult(
        worker=0,
        clients=2,
        counts=Counts(sent_measured=4, delivered=6 + 3, disconnected=1),
        rooms={
            0: RoomTally(
                members=2,
                sent=4,
                delivered=6 + 3,
                sends_us=[0, 10 * MS_US, 20 * MS_US, 30 * MS_US],
                departures_us=[12 * MS_US],
            )
        },
    )
    b = WorkerResult(
        worker=1,
        clients=1,
        counts=Counts(sent_measured=2, delivered=4, disconnected=1),
        rooms={
            0: RoomTally(
                members=1,
                sent=2,
                delivered=4,
                sends_us=[5 * MS_US, 15 * MS_US],
                departures_us=[22 * MS_US],
            )
        },
    )
    rep = Repeat.from_workers(0, [a, b], clients=3, duration_s=1.0)
    counts = rep.counts
    assert counts.receiver_gone == 4
    assert counts.expected == 14
    assert counts.delivered == 13
    assert counts.lost == 1
    assert rep.loss_ratio == 1 / 14
    assert counts.disconnected == 2


def test_a_send_at_the_very_moment_a_member_left_is_not_owed_to_it():
    tally = RoomTally(members=2, sent=3, sends_us=[0, 500, 900], departures_us=[500])
    assert tally.receiver_gone() == 2


def test_rooms_nobody_left_owe_every_member_every_send():
    a = WorkerResult(
        worker=0,
        clients=2,
        counts=Counts(sent_measured=3, delivered=6),
        rooms={0: RoomTally(members=2, sent=3, delivered=6, sends_us=[0, 1, 2])},
    )
    rep = Repeat.from_workers(0, [a], clients=2, duration_s=1.0)
    assert (rep.counts.expected, rep.counts.lost, rep.counts.receiver_gone) == (6, 0, 0)


def test_an_absence_in_one_worker_excuses_the_other_workers_sends():
    """Room 0: client 0 in worker A sends at 0, 10, 20 ms; client 1 in worker B sends at
    5 ms and is away from 8 to 18 ms (it left and came back). 4 sends to 2 members: 8,
    less client 1's share of A's send at 10 ms, which B alone cannot know: 7."""
    a = WorkerResult(
        worker=0,
        clients=1,
        counts=Counts(sent_measured=3, delivered=4),
        rooms={0: RoomTally(members=1, sent=3, delivered=4, sends_us=[0, 10_000, 20_000])},
    )
    b = WorkerResult(
        worker=1,
        clients=1,
        counts=Counts(sent_measured=1, delivered=3, reconnects=1, away_arrivals=1),
        rooms={
            0: RoomTally(
                members=1, sent=1, delivered=3, sends_us=[5_000], away_us=[[8_000, 18_000]]
            )
        },
        reconnect_ms=[4.0, 6.0],
    )
    rep = Repeat.from_workers(0, [a, b], clients=2, duration_s=1.0)
    counts = rep.counts
    assert (counts.away, counts.expected, counts.delivered, counts.lost) == (1, 7, 7, 0)
    assert counts.reconnects == 1
    assert rep.reconnect_ms["p50"] == 5.0
    assert rep.reconnect_ms["max"] == 6.0


def lateness(values_us: list[int]) -> str:
    return stats.encode_histogram(np.array(values_us, dtype=np.int64))


def test_send_lateness_is_merged_across_workers():
    a = WorkerResult(worker=0, clients=1, lateness_histogram=lateness([100, 200]))
    b = WorkerResult(worker=1, clients=1, lateness_histogram=lateness([300, 5000]))
    rep = Repeat.from_workers(0, [a, b], clients=2, duration_s=1.0)
    assert rep.lateness_ms["count"] == 4
    assert rep.lateness_ms["p50"] == pytest.approx(0.2, rel=1e-2)
    assert rep.lateness_ms["max"] == pytest.approx(5.0, rel=1e-2)
    assert stats.merge_histograms([rep.lateness_histogram]).get_total_count() == 4


def test_closed_loop_has_no_send_lateness_and_no_loop_lag():
    rep = Repeat.from_workers(0, [WorkerResult(worker=0, clients=1)], clients=1, duration_s=1.0)
    assert (rep.lateness_ms, rep.lateness_histogram) == ({}, "")
    assert rep.clients.max_loop_lag_ms is None  # no longer measured
