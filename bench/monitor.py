"""The server monitor: threads, CPU and memory of a process, sampled from /proc.

It runs in a thread of the runner (which is idle while worker processes drive the load),
never in a busy event loop, and reads only /proc, so its cost to the server is the
kernel's work to fill those files: under 2% at 10 Hz (measured; see docs).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def read_stat(path: Path) -> tuple[float, int, int] | None:
    """(CPU seconds, threads, RSS bytes) from a /proc stat file, or None if it is gone."""
    try:
        text = path.read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    return cpu_s, int(fields[17]), int(fields[21]) * PAGE_BYTES


def thread_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of ``pid``, by thread id."""
    out: dict[int, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return out
    for tid in tids:
        stat = read_stat(Path(f"/proc/{pid}/task/{tid}/stat"))
        if stat is not None:
            out[int(tid)] = stat[0]
    return out


@dataclass
class Series:
    t_s: list[float] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)
    cpu_percent: list[float] = field(default_factory=list)
    rss_bytes: list[int] = field(default_factory=list)


class ProcessMonitor:
    """Samples one process at ``hz`` in a thread until stopped."""

    def __init__(self, pid: int, hz: float = 10.0) -> None:
        self.pid = pid
        self.interval_s = 1.0 / hz if hz > 0 else 0.0
        self.series = Series()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self._window: dict[str, dict[int, float] | float] = {}

    def start(self) -> None:
        if self.interval_s:
            self._thread = threading.Thread(
                target=self._loop, name="chanbench-monitor", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        last = read_stat(Path(f"/proc/{self.pid}/stat"))
        last_t = time.monotonic()
        while not self._stop.wait(self.interval_s):
            stat = read_stat(Path(f"/proc/{self.pid}/stat"))
            now = time.monotonic()
            if stat is None or last is None:
                break
            self.series.t_s.append(round(now - self._t0, 3))
            self.series.threads.append(stat[1])
            self.series.cpu_percent.append(round(100 * (stat[0] - last[0]) / (now - last_t), 1))
            self.series.rss_bytes.append(stat[2])
            last, last_t = stat, now

    def mark(self, name: str) -> None:
        """Record per-thread CPU at a phase boundary (``start`` and ``end`` of measuring)."""
        self._window[name] = thread_cpu_s(self.pid)
        self._window[name + "_t"] = time.monotonic() - self._t0

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)

    def summary(self) -> dict[str, Any]:
        """Threads, CPU and RSS over the measured window, and per-thread CPU there."""
        start_t = self._window.get("start_t", 0.0)
        end_t = self._window.get("end_t", float("inf"))
        assert isinstance(start_t, float) and isinstance(end_t, float)
        idx = [i for i, t in enumerate(self.series.t_s) if start_t <= t <= end_t]
        threads = [self.series.threads[i] for i in idx]
        cpu = [self.series.cpu_percent[i] for i in idx]
        rss = self.series.rss_bytes
        per_thread: list[dict[str, Any]] = []
        begin, end = self._window.get("start"), self._window.get("end")
        if isinstance(begin, dict) and isinstance(end, dict) and end_t > start_t:
            span = end_t - start_t
            for tid, cpu_s in end.items():
                used = cpu_s - begin.get(tid, 0.0)
                label = "main (event loop)" if tid == self.pid else f"thread {tid}"
                per_thread.append(
                    {"tid": tid, "label": label, "cpu_percent": round(100 * used / span, 1)}
                )
            per_thread.sort(key=lambda row: -row["cpu_percent"])
        return {
            "samples": len(idx),
            "threads_min": min(threads) if threads else None,
            "threads_mean": round(sum(threads) / len(threads), 2) if threads else None,
            "threads_max": max(threads) if threads else None,
            "cpu_mean_percent": round(sum(cpu) / len(cpu), 1) if cpu else None,
            "rss_peak_bytes": max(rss) if rss else None,
            "busiest_thread": per_thread[0] if per_thread else None,
            # The event loop (Daphne's main thread) against every other thread: where the
            # sync consumer's handlers, and the async one's sync_to_async hops, run.
            "event_loop_cpu_percent": (
                sum(r["cpu_percent"] for r in per_thread if r["tid"] == self.pid)
                if per_thread
                else None
            ),
            "other_threads_cpu_percent": (
                round(sum(r["cpu_percent"] for r in per_thread if r["tid"] != self.pid), 1)
                if per_thread
                else None
            ),
            "per_thread": per_thread[:16],
            "window_s": [start_t, end_t if end_t != float("inf") else None],
        }
