"""What the monitor saw of the processes under test and of the machine, over a repeat's
measured window: CPU, threads, memory, files and connections (``bench.run.monitor``
measures them; a ``Repeat`` holds them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.results.record import Record


@dataclass
class ProcessSummary(Record):
    """One watched process over the measured window."""

    pid: int
    role: str  # "server", "worker", "redis", ...
    name: str = ""
    threads_max: int | None = None
    cpu_percent: float | None = None
    rss_peak_bytes: int | None = None
    # The server's processes: established client connections held when measuring began.
    connections: int | None = None
    # At the window's end: memory the process holds alone (USS) and with its share of
    # pages shared with its siblings (PSS; RSS counts them in every worker), open files.
    uss_bytes: int | None = None
    pss_bytes: int | None = None
    open_files: int | None = None


@dataclass
class ThreadCpu(Record):
    """One thread's CPU over the measured window; ``tid`` None for a process's threads
    that exited inside it, or the root's children that exited (files before version 2
    have no ``pid`` or ``main``)."""

    label: str = ""
    cpu_percent: float = 0.0
    tid: int | None = None
    pid: int | None = None
    main: bool = False  # the process's main thread: an asyncio server's event loop


@dataclass
class MonitorSummary(Record):
    """Threads, CPU and memory of a set of processes (a server's tree, or Redis) over the
    measured window: sums across the processes, each process, and the series over time.

    ``pid`` is the process the set was found from (the server's main process)."""

    pid: int | None = None
    samples: int = 0
    threads_min: int | None = None
    threads_mean: float | None = None
    threads_max: int | None = None
    cpu_mean_percent: float | None = None
    rss_peak_bytes: int | None = None
    # The tree's memory at the window's end, shared pages counted once (sum of PSS).
    pss_bytes: int | None = None
    busiest_thread: ThreadCpu | None = None
    event_loop_cpu_percent: float | None = None
    other_threads_cpu_percent: float | None = None
    per_thread: list[ThreadCpu] = field(default_factory=list)
    processes: list[ProcessSummary] = field(default_factory=list)
    window_s: list[float | None] = field(default_factory=list)
    series: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class MachineSummary(Record):
    """The whole machine over the measured window: on a shared machine no single process
    may reach a full core while the clients, the server and Redis starve each other."""

    cores: int = 0
    cpu_percent: float | None = None  # of all cores: 100 means every core busy
    # Each client process's time waiting for a core (run queue), as a share of the window.
    client_wait_percent: list[float] = field(default_factory=list)
