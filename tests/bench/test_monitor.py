"""The monitor's reading of /proc: stat lines, process trees, sums and per-process figures."""

import os
import subprocess
import sys
import time

import pytest

from bench.deploy.processes import process_tree, stop_process
from bench.run.monitor import (
    CLOCK_TICKS,
    PAGE_BYTES,
    ProcessMonitor,
    parse_proc_stat,
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


# A parent that starts a child burning CPU, and then sleeps: the tree's CPU is the child's.
SPIN = "import time\\nend = time.time() + 30\\nwhile time.time() < end: pass"
TREE = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "{SPIN}"])
print(child.pid, flush=True)
time.sleep(30)
"""


def test_a_process_tree_is_watched_whole():
    parent = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert process_tree(parent.pid) == [parent.pid, child]
        monitor = ProcessMonitor({"server": parent.pid}, hz=20)
        monitor.start()
        monitor.mark("start")
        time.sleep(0.6)
        monitor.mark("end")
        monitor.stop()
        summary = monitor.summary("server")
    finally:
        for pid in process_tree(parent.pid)[1:]:
            os.kill(pid, 9)
        stop_process(parent)
    by_pid = {p.pid: p for p in summary.processes}
    assert set(by_pid) == {parent.pid, child}
    assert by_pid[parent.pid].role == "server"
    assert by_pid[child].role == "server child"
    # The child spins (a loaded 2-core machine may give it less than a core); the
    # parent sleeps. The sum is the tree's, not the parent's alone.
    assert by_pid[child].cpu_percent > 30
    assert by_pid[parent.pid].cpu_percent < 10
    assert summary.cpu_mean_percent > 30
    assert summary.threads_max >= 2
    parts = summary.event_loop_cpu_percent + summary.other_threads_cpu_percent
    assert parts == pytest.approx(sum(r["cpu_percent"] for r in summary.per_thread), abs=0.2)
    assert all(r["label"].startswith("pid ") for r in summary.per_thread)


def test_a_process_that_is_gone_has_no_tree():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert process_tree(proc.pid) == []


def test_parse_proc_stat_counts_idle_and_iowait_as_not_busy():
    text = "cpu  100 5 50 800 40 3 2 0 7 0\ncpu0 50 2 25 400 20 1 1 0 3 0\n"
    busy, total = parse_proc_stat(text)
    assert total == 100 + 5 + 50 + 800 + 40 + 3 + 2 + 0
    assert busy == total - 800 - 40


def test_parse_schedstat_reads_the_run_queue_wait():
    assert parse_schedstat("123456789 2500000000 42\n") == 2.5


# A thread that spins half a second and exits while the main thread sleeps.
EXITING = """
import threading, time
def spin():
    end = time.time() + 0.5
    while time.time() < end:
        pass
print("ready", flush=True)
time.sleep(0.2)
threading.Thread(target=spin).start()
time.sleep(30)
"""


def test_cpu_of_threads_that_exited_counts_and_the_parts_add_up():
    proc = subprocess.Popen([sys.executable, "-c", EXITING], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        monitor = ProcessMonitor({"server": proc.pid}, hz=10, clients=[proc.pid])
        monitor.start()
        monitor.mark("start")
        time.sleep(1.2)
        monitor.mark("end")
        monitor.stop()
        summary = monitor.summary("server")
        machine = monitor.machine()
    finally:
        stop_process(proc)
    exited = [r for r in summary.per_thread if r["label"] == "threads that exited"]
    assert len(exited) == 1 and exited[0]["cpu_percent"] > 10
    parts = summary.event_loop_cpu_percent + summary.other_threads_cpu_percent
    assert parts == pytest.approx(summary.cpu_mean_percent, abs=0.3)
    assert machine is not None and machine.cores == os.cpu_count()
    assert 0 < machine.cpu_percent <= 100
    assert len(machine.client_wait_percent) == 1
