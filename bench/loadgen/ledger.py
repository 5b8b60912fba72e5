"""The delivery books of one worker's clients: pure accounting, no sockets, no clock.

Every received frame is parsed and accounted here: delivered, duplicated, out of order,
malformed, its latency and its room. The caller passes the arrival time, so the books can
be tested frame by frame without a server, and the rules are written down once.
"""

from __future__ import annotations

from array import array

import numpy as np

from bench import stats
from bench.loadgen import protocol
from bench.loadgen.protocol import MEASURED, WARMUP, Token
from bench.results import Counts, RoomTally

# Bytes of a fresh (receiver, sender) bitmap: the first 512 sequence numbers.
BITMAP_BYTES = 64


class DeliveryLedger:
    """What one worker's clients sent and received, and when the measured window is."""

    def __init__(self) -> None:
        self.counts = Counts()
        self.rooms: dict[int, RoomTally] = {}
        self.window: tuple[int, int] = (0, 0)  # the measured phase, monotonic ns, end excluded
        self.received = 0  # every text frame, for the progress line
        self.last_arrival_ns = 0
        self.latencies_us = array("q")
        self._reported_latencies = 0
        # (receiver, sender) -> bitmap of measured sequence numbers seen, and the highest.
        self._seen: dict[tuple[int, int], bytearray] = {}
        self._highest: dict[tuple[int, int], int] = {}

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

    # --- sending and receiving -------------------------------------------------------

    def record_send(self, room: int, phase: str) -> None:
        """A member of ``room`` sent a message in ``phase``."""
        self.counts.sent += 1
        if phase == MEASURED:
            self.counts.sent_measured += 1
            self.rooms[room].sent += 1

    def receive(self, receiver: int, room: int, data: bytes, now_ns: int) -> Token | None:
        """Account a text frame that ``receiver`` (a member of ``room``) got at ``now_ns``.

        Returns its token, or None when the frame is malformed (counted as such)."""
        self.received += 1
        self.last_arrival_ns = now_ns
        start, end = self.window
        if start <= now_ns < end:
            self.counts.received_in_window += 1
        try:
            token = protocol.decode(data)
        except ValueError:
            self.reject()
            return None
        if token.phase == MEASURED:
            self._account(receiver, room, token, now_ns - token.sent_ns)
        return token

    def reject(self) -> None:
        """A frame that is not one of ours (or not text at all)."""
        self.counts.malformed += 1

    def _account(self, receiver: int, room: int, token: Token, latency_ns: int) -> None:
        key = (receiver, token.sender)
        bitmap = self._seen.get(key)
        if bitmap is None:
            bitmap = self._seen[key] = bytearray(BITMAP_BYTES)
            self._highest[key] = -1
        seq = token.seq
        byte, bit = seq >> 3, 1 << (seq & 7)
        if byte >= len(bitmap):
            bitmap.extend(bytes(max(len(bitmap), byte + 1 - len(bitmap))))
        if bitmap[byte] & bit:
            self.counts.duplicated += 1
            return
        bitmap[byte] |= bit
        self.counts.delivered += 1
        self.rooms[room].delivered += 1
        self.latencies_us.append(max(1, latency_ns // 1000))
        if seq < self._highest[key]:
            self.counts.out_of_order += 1
        else:
            self._highest[key] = seq

    # --- latency ---------------------------------------------------------------------

    def recent_p99_ms(self) -> float | None:
        """The p99 latency of the deliveries accounted since the previous call, in ms."""
        recent = self.latencies_us[self._reported_latencies :]
        self._reported_latencies = len(self.latencies_us)
        if not recent:
            return None
        return float(np.percentile(np.frombuffer(recent, dtype=np.int64), 99)) / 1000

    def histogram(self) -> str:
        """Every accounted latency as an encoded HdrHistogram (``stats.encode_histogram``)."""
        latencies = self.latencies_us
        return stats.encode_histogram(
            np.frombuffer(latencies, dtype=np.int64) if latencies else np.empty(0, np.int64)
        )
