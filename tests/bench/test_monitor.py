"""The monitor's arithmetic, from readings written out here: stat lines, edges, the sums,
per-process and per-thread rows. No process is started (the readings of real processes
are tests/run/test_monitor_processes.py)."""

import os

import pytest

from bench.results.usage import MonitorSummary, ThreadCpu
from bench.run.monitor import Edge, ProcessMonitor
from bench.run.readings import (
    CLOCK_TICKS,
    PAGE_BYTES,
    Memory,
    Reading,
    machine_cpu,
    parse_schedstat,
    parse_stat,
)

# A stat line whose command name holds spaces and a closing parenthesis, as a thread
# named by its program may; fields as proc(5) numbers them.
STAT = (
    "4242 (python3 (worker) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 "
    "250 50 0 0 20 0 7 0 123456 987654321 3000 18446744073709551615 0 0 0 0 0 0 0 0 0 0"
)


def test_parse_stat_reads_cpu_threads_and_rss():
    stat = parse_stat(STAT)
    assert stat.name == "python3 (worker) x"
    assert stat.cpu_s == (250 + 50) / CLOCK_TICKS
    assert stat.threads == 7
    assert stat.rss_bytes == 3000 * PAGE_BYTES


def test_parse_schedstat_reads_the_run_queue_wait():
    assert parse_schedstat("123456789 2500000000 42\n") == 2.5


def test_the_machine_counts_idle_and_iowait_as_not_busy():
    busy, total = machine_cpu()
    assert 0 < busy < total


ROOT, WORKER = 100, 101


def two_process_monitor() -> ProcessMonitor:
    """A supervisor (ROOT) and one worker over a 2 s window, as ``mark`` would read them:
    the worker's main thread used 1.0 s, thread 102 0.4 s, thread 103 0.2 s and exited;
    the supervisor 0.2 s, and children it reaped meanwhile 0.4 s."""
    monitor = ProcessMonitor({"server": ROOT}, hz=0)
    monitor._window = {"start": 1.0, "end": 3.0}
    watched = monitor.watched["server"]
    watched.edges["start"] = Edge(
        1.0,
        {
            ROOT: Reading(1.0, 5.0, {ROOT: 1.0}),
            WORKER: Reading(2.0, 0.0, {WORKER: 1.5, 102: 0.5, 103: 0.0}),
        },
    )
    watched.edges["end"] = Edge(
        3.0,
        {ROOT: Reading(1.2, 5.4, {ROOT: 1.2}), WORKER: Reading(3.6, 0.0, {WORKER: 2.5, 102: 0.9})},
        memory={ROOT: Memory(1_000, 2_000, 7), WORKER: Memory(3_000, 4_000, 9)},
    )
    watched.samples = {ROOT: [(1.5, 1, 10_000, 1.1)], WORKER: [(1.5, 3, 20_000, 2.5)]}
    watched.names = {ROOT: "python", WORKER: "daphne"}
    return monitor


def test_the_tree_sums_its_processes_and_the_children_it_reaped():
    summary = two_process_monitor().summary("server")
    by_pid = {p.pid: p for p in summary.processes}
    assert by_pid[ROOT].role == "server" and by_pid[WORKER].role == "server child"
    assert by_pid[ROOT].cpu_percent == 10.0
    assert by_pid[WORKER].cpu_percent == 80.0
    assert summary.cpu_mean_percent == 10.0 + 80.0 + 20.0


def test_per_thread_rows_add_up_to_the_tree():
    summary = two_process_monitor().summary("server")
    rows = {(r.pid, r.tid, r.label): r.cpu_percent for r in summary.per_thread}
    assert rows == {
        (WORKER, WORKER, f"pid {WORKER} main (event loop)"): 50.0,
        (WORKER, 102, f"pid {WORKER} thread 102"): 20.0,
        (WORKER, None, f"pid {WORKER} threads that exited"): 10.0,
        (ROOT, ROOT, f"pid {ROOT} main (event loop)"): 10.0,
        (ROOT, None, "children that exited"): 20.0,
    }
    assert summary.busiest_thread == ThreadCpu(
        f"pid {WORKER} main (event loop)", 50.0, WORKER, WORKER, main=True
    )
    assert summary.event_loop_cpu_percent == 60.0
    assert summary.other_threads_cpu_percent == 50.0
    parts = summary.event_loop_cpu_percent + summary.other_threads_cpu_percent
    assert parts == pytest.approx(summary.cpu_mean_percent)


def test_memory_and_files_are_the_window_ends():
    summary = two_process_monitor().summary("server")
    by_pid = {p.pid: p for p in summary.processes}
    assert (by_pid[WORKER].uss_bytes, by_pid[WORKER].pss_bytes) == (3_000, 4_000)
    assert by_pid[ROOT].open_files == 7
    assert summary.pss_bytes == 6_000


def test_without_edges_the_headline_is_the_samples_mean():
    monitor = ProcessMonitor({"server": ROOT}, hz=0)
    series = monitor.watched["server"].series
    series.t_s, series.threads, series.cpu_percent = [0.1, 0.2], [2, 4], [30.0, 50.0]
    series.rss_bytes = [1, 2]
    summary = monitor.summary("server")
    assert summary.cpu_mean_percent == 40.0
    assert summary.per_thread == [] and summary.busiest_thread is None
    assert summary.threads_max == 4 and summary.pss_bytes is None


def test_the_machine_and_the_clients_waits_over_the_window():
    monitor = ProcessMonitor({}, hz=0, clients=[7, 8])
    monitor._window = {"start": 0.0, "end": 2.0}
    monitor._machine = {"start": (10.0, 100.0), "end": (13.0, 104.0)}
    monitor._client_wait = {"start": {7: 1.0, 8: None}, "end": {7: 1.5, 8: 2.0}}
    machine = monitor.machine()
    assert machine is not None and machine.cores == os.cpu_count()
    assert machine.cpu_percent == 75.0
    assert machine.client_wait_percent == [25.0]


def test_per_thread_rows_of_older_files_still_read():
    # Version 1 rows had no pid and no main.
    old = {"label": "main (event loop)", "tid": 9, "cpu_percent": 42.5}
    summary = MonitorSummary.from_json({"per_thread": [old], "busiest_thread": old})
    assert summary.per_thread == [ThreadCpu("main (event loop)", 42.5, 9)]
    assert summary.busiest_thread == summary.per_thread[0]
    assert summary.to_json()["per_thread"][0]["cpu_percent"] == 42.5
