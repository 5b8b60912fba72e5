"""What the monitor reads of a process, its threads and the machine: two readers for two
costs.

The 10 Hz samples run all through the load, on the cores the server needs, so they read
one ``/proc/<pid>/stat`` line per process by hand: CPU, threads and RSS in one read.
psutil's ``oneshot`` reads the same figures from three files (stat, status, statm): 161
against 66 microseconds for a Daphne with 2 workers (best of 5; the whole sample is
benchmarks/test_monitor.py).

The measured window's edges are read twice a repeat, through psutil: each process's and
thread's CPU (first, so that the edge is sharp), then what is slow to read and need not
be: established connections on the server's port (at the start), USS and PSS
(``smaps_rollup``: the memory a worker holds alone, and its share of what it shares with
its siblings, where RSS counts shared pages in every worker) and open files (at the
end). How long a client waited for a core (``schedstat``) psutil does not read.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import psutil

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Stat:
    """What one /proc stat line says of a process: the 10 Hz sample."""

    name: str
    cpu_s: float
    threads: int
    rss_bytes: int


def parse_stat(text: str) -> Stat:
    """A /proc/<pid>/stat line: comm, utime + stime, threads, RSS."""
    # The command name may hold spaces and parentheses: split after the last ')'.
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    return Stat(name, cpu_s, int(fields[17]), int(fields[21]) * PAGE_BYTES)


def read_stat(pid: int) -> Stat | None:
    """The stat of a process, or None if it is gone."""
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Reading:
    """A process's CPU at an edge of the measured window."""

    cpu_s: float  # the whole process's, threads that exited included
    # CPU of the children it has reaped: a PostgreSQL backend that served one message
    # and exited lives on only here, in the postmaster's counters.
    reaped_cpu_s: float
    threads: dict[int, float] = field(default_factory=dict)  # tid -> CPU seconds


def read_process(pid: int) -> Reading | None:
    """The CPU of ``pid`` and of each of its threads, or None once it is gone."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            times = proc.cpu_times()
            threads = {t.id: t.user_time + t.system_time for t in proc.threads()}
    except psutil.Error:
        return None
    return Reading(
        cpu_s=times.user + times.system,
        reaped_cpu_s=times.children_user + times.children_system,
        threads=threads,
    )


@dataclass(frozen=True)
class Memory:
    """A process's memory and files at the window's end; None where it could not be
    read (another user's process: PostgreSQL run as its own user)."""

    uss_bytes: int | None = None
    pss_bytes: int | None = None
    open_files: int | None = None


def read_memory(pid: int) -> Memory:
    """USS and PSS (one ``smaps_rollup`` read: about 2 ms for a Daphne worker, so at the
    window's end only, never at 10 Hz) and the open file descriptors of ``pid``."""
    uss = pss = open_files = None
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        with contextlib.suppress(psutil.Error):
            memory = proc.memory_full_info()
            uss, pss = memory.uss, memory.pss
        open_files = proc.num_fds()
    return Memory(uss, pss, open_files)


def established_connections(pids: Collection[int], port: int) -> dict[int, int]:
    """For each of ``pids``, how many established TCP connections on its ``port`` it holds.

    Read process by process: the system-wide table (``psutil.net_connections``) names one
    process per socket, and while any process that shares the socket forks (a child
    holds its parent's sockets until it execs) it may name the child instead."""
    out = dict.fromkeys(pids, 0)
    for pid in out:
        with contextlib.suppress(psutil.Error):
            out[pid] = sum(
                1
                for conn in psutil.Process(pid).net_connections("tcp")
                if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_ESTABLISHED
            )
    return out


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of all cores since boot; idle and iowait are not busy
    (guest time is already in user)."""
    t = psutil.cpu_times()
    total = t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal
    return total - t.idle - t.iowait, total


def parse_schedstat(text: str) -> float:
    """Seconds a task waited on a run queue, from /proc/<pid>/task/<tid>/schedstat."""
    return int(text.split()[1]) / 1e9


def wait_s(pid: int) -> float | None:
    """Seconds every thread of ``pid`` has waited for a core, or None if it is gone."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    total = 0.0
    for tid in tids:
        try:
            total += parse_schedstat(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text())
        except (OSError, ValueError, IndexError):
            continue
    return total
