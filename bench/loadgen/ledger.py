"""The delivery books of one worker's clients: pure accounting, no sockets, no clock.

Every received frame is parsed and accounted here: delivered, duplicated, out of order,
malformed, its latency and its room; every send, with its lateness (open loop); every
member that left, with when. The caller passes the times, so the books can be tested
frame by frame without a server, and the rules are written down once:

- A delivery is the first arrival of a message at a receiver; a second arrival is a
  duplicate. The protocol reads the token out of a frame (``token()``); a frame that
  answers nothing (None) is counted ``unmatched`` and otherwise ignored; one whose
  ``token()`` raises, or whose token is not one of ours, is malformed. Only measured
  messages are accounted (delivered, latency, lost), but every
  first arrival inside the measured window counts towards delivered/s
  (``received_in_window``), warm-up stragglers included: in a steady state the warm-up
  messages arriving in the window stand in for the measured ones still in flight at its
  end, and counting measured messages only would read low by everything in flight
  (throughput x latency). Duplicates and malformed frames never count.
- Latency is arrival minus intended send time. A negative latency is a harness error: it
  is counted (``negative_latency``), reported, and kept out of the histogram, never
  clamped into it. A latency under 1 µs is recorded as 1 µs, the histogram's lowest
  value: that is its resolution, not a clamp.
- Lateness (open loop) is the actual send time minus the intended one, per measured send.
  A send before its intended time is a harness error (``sent_early``), kept out of the
  histogram like a negative latency.
- A member that leaves (the server hung up, or the client dropped a frame it could not
  read) is owed nothing sent after it left: those deliveries are "receiver gone", not
  lost. A member that leaves and comes back (churn under load, ``reconnect_per_s``)
  is owed nothing intended from the moment it left until the moment it was back in its
  room (``away``), and what arrives for it meanwhile is ignored (``away_arrivals``): the
  one rule, in µs from the window's start, on both sides of the books. Each room's
  tally keeps its measured sends' intended times and its members' departures and
  absences (µs from the window's start), so that the runner, which sees every worker,
  can count them across workers (``RoomTally.receiver_gone``, ``RoomTally.away``).
"""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np

from bench.judge import stats
from bench.protocols import MEASURED, UNMATCHED, WARMUP, Frame, Token, read_token
from bench.protocols.chat import Chat
from bench.results.books import Counts, RoomTally

# Bytes of a fresh (receiver, sender) bitmap: the first 512 sequence numbers.
BITMAP_BYTES = 64
# The end of an absence that has not ended (yet, or ever: a reconnect that failed).
NEVER_US = 2**62


class DeliveryLedger:
    """What one worker's clients sent and received, and when the measured window is."""

    def __init__(self, protocol: Any = None) -> None:
        """``protocol``: what reads a frame's token (``token``) and who is owed each
        message (``recipients``); the tutorial's chat by default."""
        protocol = protocol or Chat()
        self.read = protocol.token
        # Who a measured send is owed to: its room's members ("room"; with "sender" the
        # caller books each client as a room of its own), or nobody ("none").
        self.owed = protocol.recipients != "none"
        self.counts = Counts()
        self.rooms: dict[int, RoomTally] = {}
        self.window: tuple[int, int] = (0, 0)  # the measured phase, monotonic ns, end excluded
        self.received = 0  # every text frame, parsed or not
        self.deliveries = 0  # first arrivals of any phase, at any time: the progress line's
        self.last_arrival_ns = 0
        self.latencies_us = array("q")
        self.lateness_us = array("q")
        # Each room's measured sends, intended µs from the window's start.
        self.sends_us: dict[int, array[int]] = {}
        self._reported_latencies = 0
        # Members that left: (room, monotonic ns), written into the tallies by close_books.
        self.departures: list[tuple[int, int]] = []
        # Absences of members that left to come back, [left, back) in µs from the
        # window's start: by receiver (to ignore what arrives meanwhile) and by room.
        self.away: dict[int, list[list[int]]] = {}
        self.absences: list[tuple[int, list[int]]] = []
        # (receiver, sender) -> bitmap of sequence numbers seen, and the highest measured.
        self._seen: dict[tuple[int, int], bytearray] = {}
        self._highest: dict[tuple[int, int], int] = {}
        # On a cluster (``place``): senders on other hosts are timed apart, corrected.
        self.host = 0
        self.sender_hosts: list[int] = []
        self.offsets_ns: list[int] = []
        self.cross_latencies_us = array("q")

    def place(self, host: int, sender_hosts: list[int], offsets_ns: list[int]) -> None:
        """This worker is on ``host``; ``sender_hosts[i]`` is client i's host, and
        ``offsets_ns[h]`` host h's clock minus the coordinator's."""
        self.host, self.sender_hosts, self.offsets_ns = host, sender_hosts, offsets_ns

    # --- the window and the rooms ----------------------------------------------------

    def phase(self, now_ns: int) -> str | None:
        """The phase a message sent at ``now_ns`` belongs to; None once the window ended."""
        start, end = self.window
        if now_ns >= end:
            return None
        return MEASURED if now_ns >= start else WARMUP

    def open_room(self, room: int) -> None:
        """A room this worker has clients for, connected or not."""
        self.rooms.setdefault(room, RoomTally())

    def join(self, room: int) -> None:
        """A connected member of ``room``: it accounts every measured broadcast there."""
        self.open_room(room)
        self.rooms[room].members += 1

    def leave(self, room: int, now_ns: int) -> None:
        """A member of ``room`` left at ``now_ns``: nothing sent from then on is owed to it."""
        self.departures.append((room, now_ns))

    def go_away(self, receiver: int, room: int, now_ns: int) -> list[int]:
        """``receiver``, a member of ``room``, leaves at ``now_ns`` to come back: nothing
        intended from then until ``come_back`` is owed to it. Returns the absence."""
        absence = [self._us(now_ns), NEVER_US]
        self.away.setdefault(receiver, []).append(absence)
        self.absences.append((room, absence))
        return absence

    def come_back(self, absence: list[int], now_ns: int) -> None:
        """The member of ``absence`` is back in its room at ``now_ns``."""
        absence[1] = self._us(now_ns)

    def _us(self, now_ns: int) -> int:
        return (now_ns - self.window[0]) // 1000

    def _is_away(self, receiver: int, intended_ns: int) -> bool:
        absences = self.away.get(receiver)
        if not absences:
            return False
        at = self._us(intended_ns)
        return any(left <= at < back for left, back in absences)

    def close_books(self, every_room: bool = True) -> None:
        """Write the departures into the rooms' tallies, in µs from the window's start
        (negative: before it), and the measured sends' intended times that the runner
        needs to count what was owed to nobody: every room's (``every_room``: another
        worker may hold members of it that left), or only those of rooms a member of
        which left (this worker holds all of every room it has)."""
        start = self.window[0]
        departed: dict[int, list[int]] = {}
        for room, left_ns in self.departures:
            departed.setdefault(room, []).append((left_ns - start) // 1000)
        away: dict[int, list[list[int]]] = {}
        for room, absence in self.absences:
            away.setdefault(room, []).append(list(absence))
        for room, tally in self.rooms.items():
            tally.departures_us = departed.get(room, [])
            tally.away_us = away.get(room, [])
            ship = every_room or room in departed or room in away
            tally.sends_us = list(self.sends_us.get(room, ())) if ship else []

    def expected(self) -> int:
        """The deliveries owed to this worker's members by this worker's senders, were
        they the only ones in their rooms: members x measured sends, less what was sent
        after a member left or while it was away. Exact when every room is wholly in this
        worker."""
        self.close_books(every_room=False)
        return sum(t.members * t.sent - t.receiver_gone() - t.away() for t in self.rooms.values())

    # --- sending and receiving -------------------------------------------------------

    def record_send(
        self, room: int, phase: str, intended_ns: int = 0, sent_ns: int | None = None
    ) -> None:
        """A member of ``room`` sent a message in ``phase``, intended at ``intended_ns``;
        ``sent_ns`` is when it went out where a schedule made that differ (open loop)."""
        self.counts.sent += 1
        if phase != MEASURED:
            return
        self.counts.sent_measured += 1
        if not self.owed:
            return
        self.rooms[room].sent += 1
        sends = self.sends_us.get(room)
        if sends is None:
            sends = self.sends_us[room] = array("q")
        sends.append((intended_ns - self.window[0]) // 1000)
        if sent_ns is not None:
            lateness_ns = sent_ns - intended_ns
            if lateness_ns < 0:
                self.counts.sent_early += 1
            else:
                self.lateness_us.append(lateness_ns // 1000)

    def receive(self, receiver: int, room: int, frame: Frame, now_ns: int) -> Token | None:
        """Account a frame that ``receiver`` (a member of ``room``) got at ``now_ns``.

        Returns its token, ``UNMATCHED`` when it answers nothing, or None when it is
        malformed (counted as such)."""
        self.received += 1
        self.last_arrival_ns = now_ns
        try:
            text = self.read(frame)
            if text is None:
                self.counts.unmatched += 1
                return UNMATCHED
            token = read_token(text)
        except Exception:  # the user's token() may raise anything: malformed, never a crash
            self.reject()
            return None
        if self.away and self._is_away(receiver, token.sent_ns):
            self.counts.away_arrivals += 1  # owed to nobody: sent while it was away
            return token
        key = (receiver, token.sender)
        if not self._first(key, token.seq):
            if token.phase == MEASURED:
                self.counts.duplicated += 1
            return token
        self.deliveries += 1
        start, end = self.window
        if start <= now_ns < end:
            self.counts.received_in_window += 1
        if token.phase == MEASURED:
            latency_ns = now_ns - token.sent_ns
            if self.sender_hosts and self.sender_hosts[token.sender] != self.host:
                self._account_cross(key, room, token, latency_ns)
            else:
                self._account(key, room, token, latency_ns)
        return token

    def reject(self) -> None:
        """A frame that is not one of ours (or not text at all)."""
        self.counts.malformed += 1

    def _first(self, key: tuple[int, int], seq: int) -> bool:
        """Whether ``seq`` from this (receiver, sender) arrives for the first time."""
        bitmap = self._seen.get(key)
        if bitmap is None:
            bitmap = self._seen[key] = bytearray(BITMAP_BYTES)
            self._highest[key] = -1
        byte, bit = seq >> 3, 1 << (seq & 7)
        if byte >= len(bitmap):
            bitmap.extend(bytes(max(len(bitmap), byte + 1 - len(bitmap))))
        if bitmap[byte] & bit:
            return False
        bitmap[byte] |= bit
        return True

    def _account(
        self,
        key: tuple[int, int],
        room: int,
        token: Token,
        latency_ns: int,
        into: array[int] | None = None,
    ) -> None:
        self.counts.delivered += 1
        self.rooms[room].delivered += 1
        if latency_ns >= 0:
            (self.latencies_us if into is None else into).append(latency_ns // 1000)
        elif into is None:
            self.counts.negative_latency += 1
        if token.seq < self._highest[key]:
            self.counts.out_of_order += 1
        else:
            self._highest[key] = token.seq

    def _account_cross(self, key: tuple[int, int], room: int, token: Token, raw_ns: int) -> None:
        """A delivery from another host: stamped by two clocks, so its latency is
        corrected by both offsets (the sender's clock ran ahead by its own) and kept
        apart from the same-host latencies; it counts as delivered all the same."""
        sender = self.sender_hosts[token.sender]
        latency_ns = raw_ns + self.offsets_ns[sender] - self.offsets_ns[self.host]
        self.counts.cross_host += 1
        if latency_ns < 0:  # inside the offsets' error bound: counted, never clamped
            self.counts.cross_host_negative += 1
            latency_ns = -1
        self._account(key, room, token, latency_ns, self.cross_latencies_us)

    # --- latency and lateness --------------------------------------------------------

    def recent_p99_ms(self) -> float | None:
        """The p99 latency of the deliveries accounted since the previous call, in ms."""
        recent = self.latencies_us[self._reported_latencies :]
        self._reported_latencies = len(self.latencies_us)
        if not recent:
            return None
        return float(np.percentile(np.frombuffer(recent, dtype=np.int64), 99)) / 1000

    def p99_ms(self) -> float | None:
        """The p99 latency of every delivery accounted so far, in ms."""
        if not self.latencies_us:
            return None
        return float(np.percentile(np.frombuffer(self.latencies_us, dtype=np.int64), 99)) / 1000

    def histogram(self) -> str:
        """Every accounted latency as an encoded HdrHistogram (``stats.encode_histogram``)."""
        return _encode(self.latencies_us)

    def cross_host_histogram(self) -> str:
        """The corrected latencies of deliveries from other hosts (empty off a cluster)."""
        return _encode(self.cross_latencies_us) if self.cross_latencies_us else ""

    def lateness_histogram(self) -> str:
        """Every measured send's lateness (open loop), in µs, as an encoded HdrHistogram."""
        return _encode(self.lateness_us)


def _encode(values_us: array[int]) -> str:
    return stats.encode_histogram(
        np.frombuffer(values_us, dtype=np.int64) if values_us else np.empty(0, np.int64)
    )
