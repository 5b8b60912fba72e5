"""End to end on a real Dask cluster: a ``dask scheduler`` and two ``dask worker``
processes on loopback, started here on free ports and stopped by PID; chanbench drives a
real Daphne from them (``--cluster tcp://...``).

The two workers count as two hosts (``CHANBENCH_HOST``), so that rooms span hosts and
cross-host latency is timed with two clocks; one may be given a shifted clock
(``CHANBENCH_TEST_CLOCK_SHIFT_NS``) to check the offset is measured and corrected.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client
from helpers import one_error_line

from bench.cli import main
from bench.deploy.processes import free_port, process_tree
from bench.judge import stats
from bench.loadgen import clock, cluster, cluster_link
from bench.loadgen.cluster import LocalDask

SHIFT_MS = 250

SCENARIO = """
name = "cluster"
[matrix]
consumer = "async"
layer = "memory"
clients = 8
rooms = 1
mode = "closed"
warmup_s = 0.3
duration_s = 1.0
drain_quiet_s = 0.3
repeats = 1
"""


def start_dask(tmp_path: Path, shifts_ms: dict[str, int]) -> LocalDask:
    """A scheduler and one ``--no-nanny`` worker per host name (so that a kill is a
    death, not a restart), each with its clock shifted by ``shifts_ms[name]``: chanbench's
    own ``local:N`` processes, with names and clocks of their own."""
    workers = [
        {cluster_link.HOST_ENV: name} | ({clock.SHIFT_ENV: str(shift * 1_000_000)} if shift else {})
        for name, shift in shifts_ms.items()
    ]
    dask = LocalDask.start(workers, tmp_path / "dask")
    try:
        with Client(dask.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(len(shifts_ms), timeout=60)
    except BaseException:
        dask.stop()
        raise
    return dask


@pytest.fixture
def two_hosts(tmp_path: Path) -> Iterator[LocalDask]:
    dask = start_dask(tmp_path, {"alpha": 0, "beta": SHIFT_MS})
    yield dask
    dask.stop()


def run(tmp_path: Path, dask_address: str, scenario: str = SCENARIO) -> tuple[int, dict]:
    path = tmp_path / "scenario.toml"
    path.write_text(scenario)
    results = tmp_path / "results"
    argv = ["run", str(path), "--results-dir", str(results), "--no-calibrate", "--no-report"]
    code = main([*argv, "--cluster", dask_address])
    (file,) = sorted(results.glob("*.json"))
    return code, json.loads(file.read_text())


def test_rooms_across_two_hosts_every_message_and_clocks_corrected(tmp_path, two_hosts):
    """One room of 8 split over two Dask workers that count as two hosts, one with its
    clock 250 ms ahead: every message arrives, both hosts are named, same-host latency
    is timed on one clock (no shift in it), and cross-host latency, corrected by the
    measured offsets, looks like the same-host one, not 250 ms off either way."""
    code, result = run(tmp_path, two_hosts.address)
    assert code == 0
    (point,) = result["points"]
    (rep,) = point["repeats"]
    assert rep["status"] == "ok", rep.get("reason")
    counts = rep["counts"]
    assert counts["connected"] == 8
    assert counts["expected"] == 8 * counts["sent_measured"] > 0
    assert counts["lost"] == 0 and counts["delivered"] == counts["expected"]
    hosts = {h["name"]: h for h in rep["hosts"]}
    assert set(hosts) == {"alpha", "beta"}
    assert sum(h["clients"] for h in hosts.values()) == 8
    # The offset is measured within its bound (the method's guarantee).
    for name, shift in (("alpha", 0), ("beta", SHIFT_MS)):
        host = hosts[name]
        assert abs(host["clock_offset_ms"] - shift) <= host["clock_bound_ms"] + 0.01, host
    assert rep["latency_scope"] == "same-host"
    # Every delivery is timed once: same-host in the merged histogram, cross-host apart.
    cross = counts["cross_host"]
    assert cross > 0
    same = stats.merge_histograms([rep["latency_histogram"]])
    assert same.get_total_count() == rep["latency_ms"]["count"] == counts["delivered"] - cross
    assert counts["negative_latency"] == 0
    assert rep["latency_ms"]["max"] < SHIFT_MS  # the shift never enters a same-host pair
    corrected = stats.merge_histograms([rep["cross_host_histogram"]])
    assert corrected.get_total_count() == cross - counts["cross_host_negative"]
    assert counts["cross_host_negative"] <= 0.05 * cross
    cross_p50 = corrected.get_value_at_percentile(50) / 1000
    same_p50 = rep["latency_ms"]["p50"]
    assert cross_p50 <= 3 * same_p50 + 2 * rep["cross_host_bound_ms"] + 1
    assert corrected.get_max_value() / 1000 < SHIFT_MS


def test_killed_worker_fails_its_point_and_the_run_goes_on(tmp_path):
    """A Dask worker killed mid-repeat fails that point, naming its host; the next point
    runs on the worker left; no task is left running; the run exits 3."""
    dask = start_dask(tmp_path, {"alpha": 0, "beta": 0})
    try:
        scenario = SCENARIO.replace('consumer = "async"', 'consumer = ["sync", "async"]')
        scenario = scenario.replace("duration_s = 1.0", "duration_s = 4.0")
        killed: list[float] = []

        def kill_beta_once_loaded() -> None:
            with Client(dask.address, timeout=30, set_as_default=False) as client:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    if any(client.processing().values()):
                        time.sleep(2.0)  # connected, into the load
                        beta = dask.procs[2]  # the scheduler, alpha, beta
                        beta.send_signal(signal.SIGKILL)
                        killed.append(time.monotonic())
                        return
                    time.sleep(0.1)

        killer = threading.Thread(target=kill_beta_once_loaded, daemon=True)
        killer.start()
        code, result = run(tmp_path, dask.address, scenario)
        killer.join(5)
        assert killed, "the repeat never ran on the cluster"
        assert code == 3
        first, second = result["points"]
        (failed,) = first["repeats"]
        assert failed["status"] == "failed"
        assert "beta" in failed["reason"] and "died" in failed["reason"], failed["reason"]
        (ok,) = second["repeats"]
        assert ok["status"] == "ok", ok.get("reason")
        assert [h["name"] for h in ok["hosts"]] == ["alpha"]
        assert ok["counts"]["lost"] == 0
        with Client(dask.address, timeout=30, set_as_default=False) as client:
            assert not any(client.processing().values())
            running = client.run(lambda dask_worker: len(dask_worker.state.executing))
            assert sum(running.values()) == 0
    finally:
        dask.stop()


def test_unreachable_scheduler_is_one_line_exit_2(tmp_path, capsys):
    closed = free_port()
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO)
    started = time.monotonic()
    code = main(
        [
            "run",
            str(path),
            "--results-dir",
            str(tmp_path / "r"),
            "--cluster",
            f"tcp://127.0.0.1:{closed}",
        ]
    )
    elapsed = time.monotonic() - started
    assert code == 2
    line = one_error_line(capsys)
    assert f"127.0.0.1:{closed}" in line and "dask scheduler" in line
    assert elapsed < cluster.CONNECT_TIMEOUT_S + 5
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").glob("*.json"))


def test_fewer_workers_than_asked_says_how_many(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cluster, "WORKERS_WAIT_S", 2.0)
    dask = start_dask(tmp_path, {"alpha": 0})
    try:
        path = tmp_path / "scenario.toml"
        path.write_text(SCENARIO.replace("repeats = 1", "repeats = 1\nclient_processes = 3"))
        code = main(
            ["run", str(path), "--results-dir", str(tmp_path / "r"), "--cluster", dask.address]
        )
        assert code == 2
        line = one_error_line(capsys)
        assert "1 Dask worker(s)" in line and "3 wanted" in line, line
    finally:
        dask.stop()


def test_local_cluster_runs_on_one_host_and_leaves_no_process(tmp_path):
    """``--cluster local:2``: two Dask worker processes here, one host (every pair
    timed), and none of the cluster's processes left once the command returns."""

    def children() -> set[int]:
        tree = set(process_tree(os.getpid())) - {os.getpid()}
        # multiprocessing's resource tracker lives as long as this process, by design.
        return {p for p in tree if "resource_tracker" not in _cmdline(p)}

    before = children()
    code, result = run(tmp_path, "local:2")
    assert code == 0
    (rep,) = result["points"][0]["repeats"]
    assert rep["status"] == "ok", rep.get("reason")
    (host,) = rep["hosts"]
    assert len(host["workers"]) == 2 and host["clients"] == 8
    assert rep["latency_scope"] == "" and rep["counts"]["cross_host"] == 0
    assert rep["latency_ms"]["count"] == rep["counts"]["delivered"] == rep["counts"]["expected"]
    assert result["scenario"]["cluster"] == "local:2"
    assert children() <= before


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def test_scheduler_killed_mid_repeat_fails_the_points_in_one_line_each(tmp_path):
    """The scheduler dies mid-repeat: that point and the next fail, naming it; the run
    ends with exit 3 and every result saved, no traceback."""
    dask = start_dask(tmp_path, {"alpha": 0})
    try:
        scenario = SCENARIO.replace('consumer = "async"', 'consumer = ["sync", "async"]')
        scenario = scenario.replace("duration_s = 1.0", "duration_s = 4.0")

        def kill_scheduler_once_loaded() -> None:
            with Client(dask.address, timeout=30, set_as_default=False) as client:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not any(client.processing().values()):
                    time.sleep(0.1)
            time.sleep(2.0)
            dask.procs[0].send_signal(signal.SIGKILL)  # the scheduler

        killer = threading.Thread(target=kill_scheduler_once_loaded, daemon=True)
        killer.start()
        started = time.monotonic()
        code, result = run(tmp_path, dask.address, scenario)
        killer.join(5)
        assert code == 3
        reasons = [p["repeats"][0].get("reason") or "" for p in result["points"]]
        assert len(reasons) == 2, reasons
        assert all("scheduler" in r and "stopped answering" in r for r in reasons), reasons
        assert time.monotonic() - started < 150
    finally:
        dask.stop()
