"""The monitor: threads, CPU and memory of the processes under test.

It watches sets of processes by role: ``server`` is the server's whole process tree (a
supervisor and its workers, found again at every sample), ``redis`` the private Redis.
Each role gets sums across its processes, and each process its own figures, so a
supervisor is never mistaken for the server. Headline CPU comes from readings at the
measured window's edges (exact, whatever the sampling rate); the 10 Hz samples draw the
timeline (``bench.run.readings`` says what each reads, and why two readers). It also
reads the whole machine and how long each client
process waited for a core (``schedstat``): on 2 cores the clients, the server and Redis
can starve each other while no single process reaches a full core. It runs in a thread
of the runner (idle while worker processes drive the load), never in a busy event loop,
and reads only /proc, so its cost to the server is the kernel's work to fill those files
(measured: see docs/measurements.md and benchmarks/test_monitor.py).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.deploy.processes import process_tree
from bench.results.usage import MachineSummary, MonitorSummary, ProcessSummary, ThreadCpu
from bench.run.readings import (
    Memory,
    Reading,
    Stat,
    established_connections,
    machine_cpu,
    read_memory,
    read_process,
    read_stat,
    wait_s,
)


@dataclass
class Edge:
    """What is read at an edge of the measured window: each process of the role."""

    t: float
    processes: dict[int, Reading]
    memory: dict[int, Memory] = field(default_factory=dict)  # at the end


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
    # pid -> [(t_s, threads, rss_bytes, cpu_s)], for each process's figures in the window
    samples: dict[int, list[tuple[float, int, int, float]]] = field(default_factory=dict)
    # "start" / "end": what was read at the window's edges
    edges: dict[str, Edge] = field(default_factory=dict)


class ProcessMonitor:
    """Samples each role's process tree at ``hz`` in a thread until stopped."""

    def __init__(
        self,
        roots: dict[str, int],
        hz: float = 10.0,
        clients: Sequence[int] = (),
        server_port: int | None = None,
    ) -> None:
        self.watched = {role: Watched(root) for role, root in roots.items()}
        self.clients = list(clients)
        # The server's port: each of its processes' established connections on it are
        # counted at the window's start (how the clients spread over the workers).
        self.server_port = server_port
        self._connections: dict[int, int] = {}
        self._machine: dict[str, tuple[float, float] | None] = {}
        self._client_wait: dict[str, dict[int, float | None]] = {}
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
            stat = read_stat(pid)
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
            sample = (t, stat.threads, stat.rss_bytes, stat.cpu_s)
            watched.samples.setdefault(pid, []).append(sample)
        watched.last = stats
        return True

    def mark(self, name: str) -> None:
        """Read CPU at a phase boundary (``start`` and ``end`` of measuring): each process
        and thread of each role, the machine, the clients' waits for a core; then what
        is slow to read: the server's connections (start), memory and files (end)."""
        t = time.monotonic() - self._t0
        self._window[name] = t
        for watched in self.watched.values():
            readings = {pid: read_process(pid) for pid in process_tree(watched.root)}
            watched.edges[name] = Edge(t, {p: r for p, r in readings.items() if r is not None})
        self._machine[name] = machine_cpu()
        self._client_wait[name] = {pid: wait_s(pid) for pid in self.clients}
        if name == "start" and self.server_port and "server" in self.watched:
            # How the clients spread over the server's workers.
            pids = self.watched["server"].edges[name].processes
            self._connections = established_connections(pids, self.server_port)
        if name == "end":
            for watched in self.watched.values():
                edge = watched.edges[name]
                edge.memory.update({pid: read_memory(pid) for pid in edge.processes})

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
        process_cpu = self._process_cpu(watched)
        per_thread = self._per_thread(watched, process_cpu)
        reaped = self._reaped_cpu(watched)
        if reaped:
            per_thread.append(ThreadCpu("children that exited", reaped, None, watched.root))
        if process_cpu:
            headline: float | None = round(sum(process_cpu.values()) + reaped, 1)
        else:  # no window edges (an interrupted repeat): the samples' mean
            headline = round(sum(cpu) / len(cpu), 1) if cpu else None
        loop = [r.cpu_percent for r in per_thread if r.main]
        others = [r.cpu_percent for r in per_thread if not r.main]
        end = watched.edges.get("end")
        pss = [m.pss_bytes for m in end.memory.values()] if end else []
        pss_bytes = sum(v for v in pss if v is not None) if pss and None not in pss else None
        return MonitorSummary(
            pid=watched.root,
            samples=len(idx),
            threads_min=min(threads) if threads else None,
            threads_mean=round(sum(threads) / len(threads), 2) if threads else None,
            threads_max=max(threads) if threads else None,
            cpu_mean_percent=headline,
            rss_peak_bytes=max(series.rss_bytes) if series.rss_bytes else None,
            pss_bytes=pss_bytes,
            busiest_thread=per_thread[0] if per_thread else None,
            # Each process's main thread (the event loop of an asyncio server) against
            # every other thread: where the sync consumer's handlers, and the async
            # one's sync_to_async hops, run.
            event_loop_cpu_percent=round(sum(loop), 1) if per_thread else None,
            other_threads_cpu_percent=round(sum(others), 1) if per_thread else None,
            per_thread=per_thread[:16],
            processes=self._processes(watched, role, start_t, end_t, process_cpu),
            window_s=[start_t, end_t if end_t != float("inf") else None],
            series={k: list(v) for k, v in vars(series).items()},
        )

    def _span(self, watched: Watched) -> float | None:
        begin, end = watched.edges.get("start"), watched.edges.get("end")
        if begin is None or end is None or end.t <= begin.t:
            return None
        return end.t - begin.t

    def _process_cpu(self, watched: Watched) -> dict[int, float]:
        """CPU % of each process over the window, from the readings at its edges (a
        process's own counters include its threads that exited; one that ended inside
        the window counts up to its last sample)."""
        span = self._span(watched)
        if span is None:
            return {}
        begin, end = watched.edges["start"], watched.edges["end"]
        out = {}
        for pid in dict.fromkeys([*begin.processes, *end.processes]):
            first = begin.processes[pid].cpu_s if pid in begin.processes else 0.0
            if pid in end.processes:
                last = end.processes[pid].cpu_s
            else:
                inside = [s[3] for s in watched.samples.get(pid, []) if s[0] <= end.t]
                last = inside[-1] if inside else first
            out[pid] = round(100 * (last - first) / span, 1)
        return out

    def _reaped_cpu(self, watched: Watched) -> float:
        """CPU % of the root's children that exited and were reaped inside the window
        (all of their life: a short-lived child's CPU is counted when it is reaped)."""
        span = self._span(watched)
        if span is None:
            return 0.0
        begin = watched.edges["start"].processes.get(watched.root)
        end = watched.edges["end"].processes.get(watched.root)
        if begin is None or end is None:
            return 0.0
        return round(max(0.0, 100 * (end.reaped_cpu_s - begin.reaped_cpu_s) / span), 1)

    def _per_thread(self, watched: Watched, process_cpu: dict[int, float]) -> list[ThreadCpu]:
        """CPU % of each thread over the window; what threads that exited inside the
        window used is one row per process, so the rows add up to the processes'."""
        span = self._span(watched)
        if span is None:
            return []
        begin, end = watched.edges["start"], watched.edges["end"]
        several = len(process_cpu) > 1
        rows: list[ThreadCpu] = []

        def row(pid: int, tid: int | None, label: str, cpu: float) -> None:
            label = f"pid {pid} {label}" if several else label
            rows.append(ThreadCpu(label, round(cpu, 1), tid, pid, main=tid == pid))

        for pid, total in process_cpu.items():
            live = 0.0
            before = begin.processes[pid].threads if pid in begin.processes else {}
            after = end.processes[pid].threads if pid in end.processes else {}
            for tid, cpu_s in after.items():
                used = 100 * (cpu_s - before.get(tid, 0.0)) / span
                live += used
                row(pid, tid, "main (event loop)" if tid == pid else f"thread {tid}", used)
            if total - live >= 0.1:
                row(pid, None, "threads that exited", total - live)
        rows.sort(key=lambda r: -r.cpu_percent)
        return rows

    def machine(self) -> MachineSummary | None:
        """The machine's CPU and the clients' waits for a core over the window."""
        begin, end = self._machine.get("start"), self._machine.get("end")
        span = self._window.get("end", 0.0) - self._window.get("start", 0.0)
        if begin is None or end is None or span <= 0:
            return None
        busy, total = end[0] - begin[0], end[1] - begin[1]
        waits = []
        for pid in self.clients:
            w0, w1 = self._client_wait["start"].get(pid), self._client_wait["end"].get(pid)
            if w0 is not None and w1 is not None:
                waits.append(round(100 * (w1 - w0) / span, 1))
        return MachineSummary(
            cores=os.cpu_count() or 0,
            cpu_percent=round(100 * busy / total, 1) if total > 0 else None,
            client_wait_percent=waits,
        )

    def _processes(
        self,
        watched: Watched,
        role: str,
        start_t: float,
        end_t: float,
        process_cpu: dict[int, float],
    ) -> list[ProcessSummary]:
        out = []
        end = watched.edges.get("end")
        for pid, samples in watched.samples.items():
            inside = [s for s in samples if start_t <= s[0] <= end_t] or samples
            last = end.memory.get(pid) if end else None
            out.append(
                ProcessSummary(
                    pid=pid,
                    role=role if pid == watched.root else f"{role} child",
                    name=watched.names.get(pid, ""),
                    threads_max=max(s[1] for s in inside),
                    cpu_percent=process_cpu.get(pid),
                    rss_peak_bytes=max(s[2] for s in inside),
                    connections=self._connections.get(pid) if role == "server" else None,
                    uss_bytes=last.uss_bytes if last else None,
                    pss_bytes=last.pss_bytes if last else None,
                    open_files=last.open_files if last else None,
                )
            )
        return out
