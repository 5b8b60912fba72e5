"""The progress display: a live line per repeat on a terminal, one line per repeat
otherwise, and the delivery rate over time that the report's timeline draws."""

from __future__ import annotations

import time
from typing import TextIO

from bench.loadgen.link import WorkerProgress
from bench.results.model import Repeat

# Rates are worked out over at least this long, so the line does not flicker.
MIN_INTERVAL_S = 0.4


class Progress:
    """Elapsed share of the phases, send and delivery rates, and the recent p99."""

    def __init__(self, out: TextIO, label: str, total_s: float, t0_ns: int, workers: int) -> None:
        self.out = out
        self.label = label
        self.total_s = total_s
        self.t0_ns = t0_ns
        self.workers = workers
        self.last: dict[int, WorkerProgress] = {}
        self.prev: tuple[float, int, int] | None = None
        self.series: dict[str, list[float]] = {"t_s": [], "delivered_per_s": [], "sent_per_s": []}
        self.tty = out.isatty()

    def update(self, worker: int, value: WorkerProgress) -> None:
        """A worker's counters; once every worker has reported, a point of the series."""
        self.last[worker] = value
        if len(self.last) < self.workers:
            return
        now = time.monotonic()
        sent = sum(v.sent for v in self.last.values())
        received = sum(v.received for v in self.last.values())
        if self.prev is None:
            self.prev = (now, sent, received)
            return
        dt = now - self.prev[0]
        if dt < MIN_INTERVAL_S:
            return
        sent_rate, recv_rate = (sent - self.prev[1]) / dt, (received - self.prev[2]) / dt
        elapsed = (time.monotonic_ns() - self.t0_ns) / 1e9
        self.series["t_s"].append(round(elapsed, 2))
        self.series["sent_per_s"].append(round(sent_rate, 1))
        self.series["delivered_per_s"].append(round(recv_rate, 1))
        if self.tty:
            p99s = [v.p99_ms for v in self.last.values() if v.p99_ms is not None]
            share = max(0.0, min(1.0, elapsed / self.total_s)) if self.total_s else 1.0
            bar = "#" * int(share * 20)
            p99 = f"{max(p99s):8.1f} ms" if p99s else "       - ms"
            self.out.write(
                f"\r  {self.label:<40} [{bar:<20}] {share:4.0%}  "
                f"sent {sent_rate:8,.0f}/s  delivered {recv_rate:9,.0f}/s  p99 {p99}"
            )
            self.out.flush()
        self.prev = (now, sent, received)

    def done(self, line: str) -> None:
        if self.tty:
            self.out.write("\r\033[K")
        self.out.write(f"  {self.label:<40} {line}\n")
        self.out.flush()


def summary_line(record: Repeat) -> str:
    """A repeat in one line: throughput, latency, loss, threads, share of the ceiling."""
    assert record.throughput is not None
    lat = record.latency_ms
    p50 = f"{lat['p50']:.1f}" if lat.get("p50") is not None else "-"
    p99 = f"{lat['p99']:.1f}" if lat.get("p99") is not None else "-"
    threads = record.server.threads_max if record.server else None
    fraction = record.ceiling_fraction
    return (
        f"{record.throughput.delivered_per_s:9,.0f} deliveries/s  p50 {p50:>7} ms  "
        f"p99 {p99:>7} ms  lost {record.loss_ratio or 0:.2%}"
        + (f"  threads {threads}" if threads is not None else "")
        + (f"  {fraction:.0%} of the client's ceiling" if fraction is not None else "")
    )
