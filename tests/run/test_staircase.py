"""The staircase of idle connections against a real Daphne: memory per idle connection
with its interval, and the planted leak's 64 KiB found in the difference
(bench/run/staircase.py)."""

import json

from bench.cli import main

LEAK_BYTES = 65536  # consumers/chat/faults.py's default
STAIRS = """
name = "staircase-test"
description = "idle connections, with and without the planted leak"
[matrix]
consumer = "async"
fault = ["none", "leak"]
layer = "memory"
clients = 10
idle_max = 200
idle_steps = 3
idle_hold_s = 0.5
settle_s = 1.0
"""


def test_staircase_gives_memory_per_idle_connection(tmp_path):
    path = tmp_path / "stairs.toml"
    path.write_text(STAIRS)
    results = tmp_path / "results"
    assert main(["run", str(path), "--results-dir", str(results), "--no-calibrate"]) == 0
    (file,) = results.glob("*.json")
    clean, leaky = (p["repeats"][0]["staircase"] for p in json.loads(file.read_text())["points"])
    for stairs in (clean, leaky):
        assert [s["connections"] for s in stairs["steps"]] == [0, 50, 100, 200]
        assert stairs["stopped"] is None
        assert stairs["ci_low"] <= stairs["rss_per_connection"] <= stairs["ci_high"]
        # Each step that connected clients has its handshake times, in order.
        assert stairs["steps"][0]["connect_ms"] == {}  # 0: nothing connected
        for step in stairs["steps"][1:]:
            times = [step["connect_ms"][k] for k in ("p50", "p90", "p99", "max")]
            assert times[0] > 0 and times == sorted(times), step
            assert step["connects_per_s"] > 0
        tasks = [s["counters"]["asyncio_tasks"] for s in stairs["steps"]]
        assert tasks == sorted(tasks) and tasks[-1] >= tasks[0] + 200  # a task or more each
    assert clean["rss_per_connection"] > 0
    kept = leaky["rss_per_connection"] - clean["rss_per_connection"]
    assert LEAK_BYTES / 2 <= kept <= LEAK_BYTES * 2


def test_staircase_holds_its_steps_on_the_cluster(tmp_path, monkeypatch):
    """``--cluster local:2``: each step adds a Dask task per worker and holds it; three
    steps are more tasks than a worker has threads (two), so the held ones must leave
    the worker's pool for the next step to connect. No local client process opens."""
    from bench.loadgen import pool

    def no_local_pool(*args: object) -> None:
        raise AssertionError("a local client pool was opened on a cluster run")

    monkeypatch.setattr(pool, "WorkerPool", no_local_pool)
    path = tmp_path / "stairs.toml"
    path.write_text(STAIRS.replace('["none", "leak"]', '"none"').replace("200", "40"))
    results = tmp_path / "results"
    argv = ["run", str(path), "--results-dir", str(results), "--no-calibrate", "--no-report"]
    assert main([*argv, "--cluster", "local:2"]) == 0
    (file,) = results.glob("*.json")
    ((point,),) = [json.loads(file.read_text())["points"]]
    stairs = point["repeats"][0]["staircase"]
    assert stairs["stopped"] is None
    assert [s["connections"] for s in stairs["steps"]] == [0, 10, 20, 40]
