"""Churn against a real Daphne: planted leaks are found by their counters, and a server
without one is not called leaking (bench/run/churn.py, bench/judge/leaks.py).

Small on purpose (a shared 2-core machine): a few clients, the fewest cycles the
verdicts judge (warm-up plus ``leaks.MIN_CYCLES``), a short settle.
"""

import json
from pathlib import Path

from bench.cli import main
from bench.deploy import servers
from bench.deploy.processes import free_port
from bench.deploy.site import ServerSettings
from bench.judge.leaks import MIN_CYCLES
from bench.scenario import Point

LEAK_BYTES = 65536  # consumers/chat/faults.py's default
WARMUP_CYCLES = 2
CHURN = f"""
name = "churn-test"
description = "planted leaks"
[matrix]
consumer = "async"
layer = "memory"
clients = {{clients}}
rooms = 2
mode = "closed"
warmup_s = 0
duration_s = 0.3
messages = 3
drain_quiet_s = 0.3
cycles = {WARMUP_CYCLES + MIN_CYCLES + 1}
warmup_cycles = {WARMUP_CYCLES}
settle_s = 1.0
"""


def run_churn(tmp_path: Path, faults: str, clients: int, *args: str) -> dict:
    path = tmp_path / "churn.toml"
    path.write_text(CHURN.format(clients=clients) + f"fault = {faults}\n")
    results = tmp_path / "results"
    code = main(["run", str(path), "--results-dir", str(results), "--no-calibrate", *args])
    assert code == 0
    (file,) = results.glob("*.json")
    return json.loads(file.read_text())


def verdicts(point: dict) -> dict[str, dict]:
    (rep,) = point["repeats"]
    assert rep["status"] == "ok", rep.get("reason")
    churn = rep["churn"]
    assert len(churn["cycles"]) == WARMUP_CYCLES + MIN_CYCLES + 1
    for cycle in churn["cycles"]:  # every delivery accounted for, every cycle
        assert cycle["delivered"] == cycle["expected"] > 0
    return {v["metric"]: v for v in churn["verdicts"]}


def test_planted_leak_is_found_and_its_absence_is_not_a_leak(tmp_path):
    result = run_churn(tmp_path, '["none", "leak"]', clients=20)
    clean, leaky = (verdicts(p) for p in result["points"])
    assert leaky["rss_bytes"]["verdict"] == "leak"
    assert LEAK_BYTES / 2 <= leaky["rss_bytes"]["per_connection"] <= LEAK_BYTES * 2
    assert clean["rss_bytes"]["verdict"] != "leak"
    # Chanbench serves the site: the probe's counters are read, and judged flat.
    for name in ("asyncio_tasks", "layer_channels", "open_fds"):
        assert clean[name]["verdict"] == leaky[name]["verdict"] == "flat"


def test_task_and_fd_leaks_are_found_by_their_counts(tmp_path):
    result = run_churn(tmp_path, '["task_leak", "fd_leak"]', clients=4)
    tasks, fds = (verdicts(p) for p in result["points"])
    assert tasks["asyncio_tasks"]["verdict"] == "leak"
    assert tasks["asyncio_tasks"]["per_connection"] == 1.0
    assert tasks["open_fds"]["verdict"] == "flat"
    assert fds["open_fds"]["verdict"] == "leak"
    assert fds["open_fds"]["per_connection"] == 1.0
    assert fds["asyncio_tasks"]["verdict"] == "flat"


def test_churn_against_a_target_reads_proc_alone_and_names_the_rest(tmp_path):
    port = free_port()
    settings = ServerSettings(Point(fault="leak"))
    with servers.DaphneServer(settings, "127.0.0.1", port, tmp_path / "daphne.log") as daphne:
        daphne.wait_ready()
        result = run_churn(
            tmp_path,
            '"none"',
            10,
            "--target",
            f"ws://127.0.0.1:{port}/ws/leak/chat/{{room}}/",
            "--server-pid",
            str(daphne.pid),
        )
    (point,) = result["points"]
    found = verdicts(point)
    assert found["rss_bytes"]["verdict"] == "leak"
    assert {"rss_bytes", "uss_bytes", "open_fds", "threads"} <= set(found)
    unavailable = point["repeats"][0]["churn"]["unavailable"]
    assert "--target" in unavailable["asyncio_tasks"]
    assert "--target" in unavailable["gc_objects"]
    assert not {"asyncio_tasks", "gc_objects", "allocated_blocks"} & set(found)


def test_churn_cycles_run_on_the_cluster(tmp_path, monkeypatch):
    """``--cluster local:2``: every cycle's clients are Dask tasks on the two workers (no
    local client process is ever opened), every delivery is accounted for, and the
    repeat names the host they ran on."""
    from bench.loadgen import pool

    def no_local_pool(*args: object) -> None:
        raise AssertionError("a local client pool was opened on a cluster run")

    monkeypatch.setattr(pool, "WorkerPool", no_local_pool)
    path = tmp_path / "churn.toml"
    path.write_text(
        CHURN.format(clients=8).replace(f"cycles = {WARMUP_CYCLES + MIN_CYCLES + 1}", "cycles = 2")
    )
    results = tmp_path / "results"
    argv = ["run", str(path), "--results-dir", str(results), "--no-calibrate", "--no-report"]
    assert main([*argv, "--cluster", "local:2"]) == 0
    ((point,),) = [json.loads(f.read_text())["points"] for f in results.glob("*.json")]
    (rep,) = point["repeats"]
    assert rep["status"] == "ok", rep.get("reason")
    cycles = rep["churn"]["cycles"]
    assert len(cycles) == 2
    for cycle in cycles:
        assert cycle["connected"] == 8 and cycle["delivered"] == cycle["expected"] > 0
    (host,) = rep["hosts"]  # both Dask workers are on this machine: one host
    assert len(host["workers"]) == 2 and host["clients"] == 8
