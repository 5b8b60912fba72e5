"""The monitor: threads, CPU and memory of the processes under test, sampled from /proc.

It watches sets of processes by role: ``server`` is the server's whole process tree (a
supervisor and its workers, found again at every sample), ``redis`` the private Redis.
Each role gets sums across its processes, and each process its own figures, so a
supervisor is never mistaken for the server. It runs in a thread of the runner (which is
idle while worker processes drive the load), never in a busy event loop, and reads only
/proc, so its cost to the server is the kernel's work to fill those files (measured: see
docs/measurements.md).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.processes import process_tree
from bench.results import MonitorSummary, ProcessSummary

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Stat:
    """What one /proc stat line says of a process or thread."""

    name: str
    cpu_s: float
    threads: int
    rss_bytes: int


def parse_stat(text: str) -> Stat:
    """A /proc/<pid>/stat (or task stat) line: comm, utime + stime, threads, RSS."""
    # The command name may hold spaces and parentheses: split after the last ')'.
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    return Stat(name, cpu_s, int(fields[17]), int(fields[21]) * PAGE_BYTES)


def read_stat(path: Path) -> Stat | None:
    """The stat of a process or thread, or None if it is gone."""
    try:
        return parse_stat(path.read_text())
    except (OSError, ValueError, IndexError):
        return None


def thread_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of ``pid``, by thread id."""
    out: dict[int, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        stat = read_stat(Path(f"/proc/{pid}/task/{tid}/stat"))
        if stat is not None:
            out[int(tid)] = stat.cpu_s
    return out


@dataclass
class Series:
    t_s: list[float] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)
    cpu_percent: list[float] = field(default_factory=list)
    rss_bytes: list[int] = field(default_factory=list)


@dataclass
class Watched:
    """One role's processes: the sums over time, and what each process showed."""

    root: int
    series: Series = field(default_factory=Series)
    last: dict[int, Stat] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    # pid -> [(t_s, threads, rss_bytes)], for each process's figures in the window
    samples: dict[int, list[tuple[float, int, int]]] = field(default_factory=dict)
    # "start" / "end" -> pid -> tid -> CPU seconds, read at the window's edges
    marks: dict[str, dict[int, dict[int, float]]] = field(default_factory=dict)


class ProcessMonitor:
    """Samples each role's process tree at ``hz`` in a thread until stopped."""

    def __init__(self, roots: dict[str, int], hz: float = 10.0) -> None:
        self.watched = {role: Watched(root) for role, root in roots.items()}
        self.interval_s = 1.0 / hz if hz > 0 else 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self._window: dict[str, float] = {}

    def start(self) -> None:
        for watched in self.watched.values():
            self._sample(watched, time.monotonic())
        if self.interval_s:
            self._thread = threading.Thread(
                target=self._loop, name="chanbench-monitor", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        last_t = time.monotonic()
        while not self._stop.wait(self.interval_s):
            now = time.monotonic()
            alive = [self._sample(w, now, now - last_t) for w in self.watched.values()]
            last_t = now
            if not any(alive):
                break

    def _sample(self, watched: Watched, now: float, dt: float = 0.0) -> bool:
        """Read every process of the role once; add a point to its series (after the
        first reading). False once the whole tree is gone."""
        stats = {}
        for pid in process_tree(watched.root):
            stat = read_stat(Path(f"/proc/{pid}/stat"))
            if stat is not None:
                stats[pid] = stat
        if not stats:
            return False
        t = round(now - self._t0, 3)
        if dt > 0:
            # CPU of the processes seen both times; one that just started counts from now.
            used = sum(
                s.cpu_s - watched.last[p].cpu_s for p, s in stats.items() if p in watched.last
            )
            watched.series.t_s.append(t)
            watched.series.threads.append(sum(s.threads for s in stats.values()))
            watched.series.cpu_percent.append(round(100 * used / dt, 1))
            watched.series.rss_bytes.append(sum(s.rss_bytes for s in stats.values()))
        for pid, stat in stats.items():
            watched.names.setdefault(pid, stat.name)
            watched.samples.setdefault(pid, []).append((t, stat.threads, stat.rss_bytes))
        watched.last = stats
        return True

    def mark(self, name: str) -> None:
        """Record per-thread CPU at a phase boundary (``start`` and ``end`` of measuring)."""
        self._window[name] = time.monotonic() - self._t0
        for watched in self.watched.values():
            watched.marks[name] = {pid: thread_cpu_s(pid) for pid in process_tree(watched.root)}

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)

    def summary(self, role: str) -> MonitorSummary:
        """Threads, CPU and RSS of ``role`` over the measured window, summed and per
        process, and per-thread CPU there."""
        watched = self.watched[role]
        start_t = self._window.get("start", 0.0)
        end_t = self._window.get("end", float("inf"))
        series = watched.series
        idx = [i for i, t in enumerate(series.t_s) if start_t <= t <= end_t]
        threads = [series.threads[i] for i in idx]
        cpu = [series.cpu_percent[i] for i in idx]
        per_thread = self._per_thread(watched, end_t - start_t)
        loop = [r["cpu_percent"] for r in per_thread if r["main"]]
        others = [r["cpu_percent"] for r in per_thread if not r["main"]]
        return MonitorSummary(
            pid=watched.root,
            samples=len(idx),
            threads_min=min(threads) if threads else None,
            threads_mean=round(sum(threads) / len(threads), 2) if threads else None,
            threads_max=max(threads) if threads else None,
            cpu_mean_percent=round(sum(cpu) / len(cpu), 1) if cpu else None,
            rss_peak_bytes=max(series.rss_bytes) if series.rss_bytes else None,
            busiest_thread=per_thread[0] if per_thread else None,
            # Each process's main thread (the event loop of an asyncio server) against
            # every other thread: where the sync consumer's handlers, and the async
            # one's sync_to_async hops, run.
            event_loop_cpu_percent=round(sum(loop), 1) if per_thread else None,
            other_threads_cpu_percent=round(sum(others), 1) if per_thread else None,
            per_thread=per_thread[:16],
            processes=self._processes(watched, role, start_t, end_t, per_thread),
            window_s=[start_t, end_t if end_t != float("inf") else None],
            series={k: list(v) for k, v in vars(series).items()},
        )

    def _per_thread(self, watched: Watched, span: float) -> list[dict[str, Any]]:
        begin, end = watched.marks.get("start"), watched.marks.get("end")
        if begin is None or end is None or span <= 0:
            return []
        several = len(end) > 1
        rows: list[dict[str, Any]] = []
        for pid, threads in end.items():
            for tid, cpu_s in threads.items():
                used = cpu_s - begin.get(pid, {}).get(tid, 0.0)
                label = "main (event loop)" if tid == pid else f"thread {tid}"
                rows.append(
                    {
                        "pid": pid,
                        "tid": tid,
                        "main": tid == pid,
                        "label": f"pid {pid} {label}" if several else label,
                        "cpu_percent": round(100 * used / span, 1),
                    }
                )
        rows.sort(key=lambda row: -row["cpu_percent"])
        return rows

    def _processes(
        self,
        watched: Watched,
        role: str,
        start_t: float,
        end_t: float,
        per_thread: list[dict[str, Any]],
    ) -> list[ProcessSummary]:
        out = []
        for pid, samples in watched.samples.items():
            inside = [s for s in samples if start_t <= s[0] <= end_t] or samples
            cpu = [r["cpu_percent"] for r in per_thread if r["pid"] == pid]
            out.append(
                ProcessSummary(
                    pid=pid,
                    role=role if pid == watched.root else f"{role} child",
                    name=watched.names.get(pid, ""),
                    threads_max=max(s[1] for s in inside),
                    cpu_percent=round(sum(cpu), 1) if cpu else None,
                    rss_peak_bytes=max(s[2] for s in inside),
                )
            )
        return out
