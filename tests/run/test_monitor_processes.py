"""The monitor reading real processes: a tree found whole, threads that exited, memory,
open files and connections. CPU figures are asserted against each other, never against a
core: on a busy 2-core machine a spinning process may get far less than one."""

import os
import socket
import subprocess
import sys
import time

import pytest

from bench.deploy.processes import process_tree, stop_process
from bench.run.monitor import ProcessMonitor

# A parent that starts a child burning CPU, and then sleeps: the tree's CPU is the child's.
SPIN = "import time\\nend = time.time() + 30\\nwhile time.time() < end: pass"
TREE = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "{SPIN}"])
print(child.pid, flush=True)
time.sleep(30)
"""


def watch(pid: int, window_s: float, **kwargs) -> ProcessMonitor:
    monitor = ProcessMonitor({"server": pid}, **kwargs)
    monitor.start()
    monitor.mark("start")
    time.sleep(window_s)
    monitor.mark("end")
    monitor.stop()
    return monitor


def test_a_process_tree_is_watched_whole():
    parent = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert process_tree(parent.pid) == [parent.pid, child]
        summary = watch(parent.pid, 1.0, hz=20).summary("server")
    finally:
        for pid in process_tree(parent.pid)[1:]:
            os.kill(pid, 9)
        stop_process(parent)
    by_pid = {p.pid: p for p in summary.processes}
    assert set(by_pid) == {parent.pid, child}
    assert by_pid[parent.pid].role == "server"
    assert by_pid[child].role == "server child"
    # The child spins, the parent sleeps; the sum is the tree's, not the parent's alone.
    assert by_pid[child].cpu_percent > by_pid[parent.pid].cpu_percent
    assert summary.cpu_mean_percent >= by_pid[child].cpu_percent
    assert summary.threads_max >= 2
    assert summary.samples > 0
    parts = summary.event_loop_cpu_percent + summary.other_threads_cpu_percent
    assert parts == pytest.approx(sum(r.cpu_percent for r in summary.per_thread), abs=0.2)
    assert all(r.label.startswith("pid ") for r in summary.per_thread)
    # Memory at the window's end: what a process holds alone is within what it maps.
    for process in summary.processes:
        assert 0 < process.uss_bytes <= process.pss_bytes <= process.rss_peak_bytes * 2
        assert process.open_files >= 3  # stdin, stdout, stderr at least
    assert summary.pss_bytes == sum(p.pss_bytes for p in summary.processes)


def test_a_process_that_is_gone_has_no_tree():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert process_tree(proc.pid) == []


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
        monitor = watch(proc.pid, 1.5, hz=10, clients=[proc.pid])
        summary = monitor.summary("server")
        machine = monitor.machine()
    finally:
        stop_process(proc)
    exited = [r for r in summary.per_thread if r.label == "threads that exited"]
    assert len(exited) == 1 and exited[0].cpu_percent > 0
    parts = summary.event_loop_cpu_percent + summary.other_threads_cpu_percent
    assert parts == pytest.approx(summary.cpu_mean_percent, abs=0.3)
    assert machine is not None and machine.cores == os.cpu_count()
    assert 0 < machine.cpu_percent <= 100
    assert len(machine.client_wait_percent) == 1


# A server that accepts connections and holds them.
HOLDING = """
import socket, time
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
held = [server.accept()[0] for _ in range(3)]
print("held", flush=True)
time.sleep(30)
"""


def test_the_servers_connections_are_counted_on_its_port():
    proc = subprocess.Popen([sys.executable, "-c", HOLDING], stdout=subprocess.PIPE, text=True)
    sockets = []
    try:
        port = int(proc.stdout.readline())
        sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        assert proc.stdout.readline() == "held\n"
        summary = watch(proc.pid, 0.2, hz=0, server_port=port).summary("server")
    finally:
        for sock in sockets:
            sock.close()
        stop_process(proc)
    (process,) = summary.processes
    assert process.connections == 3


def test_connections_count_for_the_process_that_holds_them_while_it_forks():
    """A forked child holds its parent's sockets until it execs or exits; the system-wide
    table names one process per socket and may name the child. Read process by process,
    the parent keeps its count."""
    from bench.run.readings import established_connections

    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        accepted = [listener.accept()[0] for _ in clients]
        child = os.fork()
        if child == 0:  # holds the same sockets, then leaves without cleaning up
            time.sleep(3)
            os._exit(0)
        try:
            for _ in range(20):
                assert established_connections([os.getpid()], port) == {os.getpid(): 3}
        finally:
            os.kill(child, 9)
            os.waitpid(child, 0)
            for sock in clients + accepted:
                sock.close()
