"""End to end, the load generator at its edges: open-loop sends never early and their
lateness recorded; a server paused past the end of the window is latency, not loss."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import TINY

from bench.cli import main


def run_cli(tmp_path: Path, scenario: str, *args: str) -> tuple[int, dict]:
    path = tmp_path / "scenario.toml"
    path.write_text(scenario)
    results = tmp_path / "results"
    code = main(
        ["run", str(path), "--results-dir", str(results), "--no-calibrate", "--no-report", *args]
    )
    (file,) = results.glob("*.json")
    return code, json.loads(file.read_text())


OPEN_ASYNC = TINY.replace('consumer = ["sync", "async"]', 'consumer = "async"').replace(
    'mode = "closed"', 'mode = "open"\nrate = 20.0'
)


def test_open_loop_sends_are_never_early_and_their_lateness_is_recorded(tmp_path):
    code, result = run_cli(tmp_path, OPEN_ASYNC)
    assert code == 0
    (rep,) = result["points"][0]["repeats"]
    counts = rep["counts"]
    assert counts["sent_early"] == 0 and counts["negative_latency"] == 0
    lateness = rep["lateness_ms"]
    assert lateness["count"] == counts["sent_measured"] > 0  # every measured send
    assert 0 < lateness["p50"] <= lateness["p99"] <= lateness["max"]
    assert rep["lateness_histogram"]
    assert rep["clients"]["max_loop_lag_ms"] is None  # the old timer is gone


def test_a_server_pause_past_the_window_is_latency_not_loss(tmp_path, monkeypatch):
    """The server blocks its event loop for 1 s about 0.35 s before the measured window
    ends, so the pause runs 0.65 s into the drain, past drain_quiet_s (0.3 s). The worker
    holds every client of its rooms, so it knows what is still owed and waits for it: the
    messages held up by the pause arrive late (p99.9 >= 1 s), none is lost.

    Timeline from the server's first connection: the runner starts the load 0.3 s after
    the clients connected, warm-up 0.5 s, window 2 s: the window ends about 2.85 s in."""
    monkeypatch.setenv("CHANBENCH_STALL_MS", "1000")
    monkeypatch.setenv("CHANBENCH_STALL_AFTER_S", "2.5")
    scenario = (
        OPEN_ASYNC.replace('consumer = "async"', 'consumer = "async"\nfault = "stall"')
        .replace("warmup_s = 0.3", "warmup_s = 0.5")
        .replace("duration_s = 1.0", "duration_s = 2.0")
    )
    assert "drain_quiet_s = 0.3" in scenario
    code, result = run_cli(tmp_path, scenario)
    assert code == 0
    (rep,) = result["points"][0]["repeats"]
    counts = rep["counts"]
    assert counts["expected"] == 2 * counts["sent_measured"] > 0
    assert counts["lost"] == 0, rep["warnings"]
    assert counts["delivered"] == counts["expected"]
    assert rep["latency_ms"]["p99_9"] >= 1000
    # The drain waited out the pause's tail (about 0.65 s), not drain_max_s (10 s).
    assert 0.3 < rep["clients"]["drain_s"] < 5.0
