"""A soak against a real Daphne, with clients leaving and coming back under load: the
planted leak (64 KiB kept per connection, so per reconnect) is found, the same consumer
without it is not called leaking, and the books account for every broadcast while
clients were away (bench/run/soak.py, bench/loadgen/reconnect.py).

Small on purpose (a shared 2-core machine): 10 clients, 12 s of load, a sample a second,
the first 3 not judged (the new server still grows its arenas).
"""

import json
from pathlib import Path

from bench.cli import main

LEAK_BYTES = 65536  # consumers/chat/faults.py's default
SAMPLE_S = 1.0
SOAK = f"""
name = "soak-test"
description = "a soak with reconnects, with and without the planted leak"
[matrix]
consumer = "async"
layer = "memory"
clients = 10
clients_per_room = 5
mode = "open"
rate = 5.0
warmup_s = 1.0
duration_s = 11.0
drain_quiet_s = 0.3
sample_s = {SAMPLE_S}
warmup_cycles = 3
reconnect_per_s = 5.0
fault = ["none", "leak"]
"""


def run_soak(tmp_path: Path) -> dict:
    path = tmp_path / "soak.toml"
    path.write_text(SOAK)
    results = tmp_path / "results"
    code = main(["run", str(path), "--results-dir", str(results), "--no-calibrate"])
    assert code == 0
    (file,) = results.glob("*.json")
    return json.loads(file.read_text())


def test_a_soak_with_reconnects_finds_the_planted_leak_and_keeps_honest_books(tmp_path):
    clean, leaky = run_soak(tmp_path)["points"]
    for point in (clean, leaky):
        (rep,) = point["repeats"]
        assert rep["status"] == "ok", rep.get("reason")
        soak, counts = rep["churn"], rep["counts"]
        assert soak["kind"] == "soak" and soak["per"] == "reconnect"
        assert len(soak["cycles"]) == 12  # (1 + 11 s) / 1 s
        assert [c["reconnects"] for c in soak["cycles"]] == sorted(
            c["reconnects"] for c in soak["cycles"]
        )
        # Clients left and came back, each reconnect timed; what was sent to them while
        # they were away is owed to nobody, so the rest of the books still balance.
        assert counts["reconnects"] >= 20 and counts["reconnect_failures"] == 0
        assert rep["reconnect_ms"]["p50"] > 0
        assert counts["away"] > 0
        assert counts["delivered"] <= counts["expected"]
        assert counts["lost"] <= 0.01 * counts["expected"]
        # The probe is read during the load, and its time recorded.
        assert all("probe" in c["read_ms"] for c in soak["cycles"])
    verdicts = [
        {v["metric"]: v for v in p["repeats"][0]["churn"]["verdicts"]} for p in (clean, leaky)
    ]
    assert verdicts[1]["rss_bytes"]["verdict"] == "leak"
    assert LEAK_BYTES / 2 <= verdicts[1]["rss_bytes"]["per_connection"] <= LEAK_BYTES * 2
    assert verdicts[0]["rss_bytes"]["verdict"] != "leak"
