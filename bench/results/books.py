"""What one client worker process measured: its counters, its rooms' tallies, its raw
books. Plain JSON records (``bench.results.record``), so that a worker could run anywhere;
the runner merges them into a ``Repeat`` (``bench.results.model``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from bench.results.record import Record


@dataclass
class Counts(Record):
    """The counters every client keeps, summed across workers by ``Counts.total``."""

    connected: int = 0
    compressed: int = 0  # clients whose server accepted permessage-deflate
    connect_failures: int = 0
    sent: int = 0
    sent_measured: int = 0
    delivered: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    malformed: int = 0
    disconnected: int = 0
    closed_loop_timeouts: int = 0
    received_in_window: int = 0  # first deliveries arriving in the window, any phase
    negative_latency: int = 0  # deliveries that arrived before they were sent: a bug
    sent_early: int = 0  # open-loop sends before their intended time: a bug
    # On a cluster: deliveries whose sender was on another host (timed apart, corrected
    # by the two hosts' clock offsets), and those that came out negative, inside the
    # offsets' error bound (kept out of every histogram).
    cross_host: int = 0
    cross_host_negative: int = 0
    unmatched: int = 0  # frames that answer no message (a greeting, presence): ignored
    # Churn under load (``reconnect_per_s``): clients that left and came back, those whose
    # reconnect failed (away for the rest of the load), and frames that arrived for a
    # client while it was away (sent after it left, before it was back: owed to nobody,
    # so neither delivered nor lost).
    reconnects: int = 0
    reconnect_failures: int = 0
    away_arrivals: int = 0

    @classmethod
    def total(cls, many: Iterable[Counts]) -> Counts:
        out = cls()
        for counts in many:
            for f in fields(cls):
                setattr(out, f.name, getattr(out, f.name) + getattr(counts, f.name))
        return out


@dataclass
class RoomTally(Record):
    """One room as one worker saw it: its members there, their measured sends, and the
    deliveries those members accounted."""

    members: int = 0
    sent: int = 0
    delivered: int = 0
    # When each measured send was intended, and when each member that left did, in µs
    # from the window's start (the same instant in every worker).
    sends_us: list[int] = field(default_factory=list)
    departures_us: list[int] = field(default_factory=list)
    # Churn under load: each absence of a member that left and came back, [left, back)
    # in µs from the window's start; a send intended inside it is owed to nobody there.
    away_us: list[list[int]] = field(default_factory=list)

    def away(self) -> int:
        """Deliveries owed to members while they were away: for each absence, the room's
        measured sends intended in [left, back). Read merged across workers, like
        ``receiver_gone``."""
        if not self.away_us:
            return 0
        sends = sorted(self.sends_us)
        return sum(
            bisect.bisect_left(sends, back) - bisect.bisect_left(sends, left)
            for left, back in self.away_us
        )

    def receiver_gone(self) -> int:
        """Deliveries owed to members after they left: for each departure, the room's
        measured sends intended at or after it. Read from a tally merged across workers,
        it counts every worker's sends against every worker's departures."""
        if not self.departures_us:
            return 0
        sends = sorted(self.sends_us)
        return sum(len(sends) - bisect.bisect_left(sends, left) for left in self.departures_us)


@dataclass
class WorkerResult(Record):
    """One worker process's raw books; plain JSON, so a worker could run anywhere."""

    worker: int
    clients: int
    counts: Counts = field(default_factory=Counts)
    connect_errors: dict[str, int] = field(default_factory=dict)
    connect_ms: list[float] = field(default_factory=list)
    reconnect_ms: list[float] = field(default_factory=list)  # churn under load: each reconnect
    rooms: dict[int, RoomTally] = field(default_factory=dict)
    latency_histogram: str = ""
    lateness_histogram: str = ""  # open loop: each measured send's lateness, µs
    # On a cluster: deliveries from other hosts, corrected latency in µs.
    cross_host_histogram: str = ""
    # How busy the whole machine's cores were over the window (a remote host's
    # saturation, where no monitor runs).
    machine_cpu_percent: float | None = None
    cpu_s: float = 0.0
    measured_s: float = 0.0
    drain_s: float = 0.0
    interrupted: bool = False
