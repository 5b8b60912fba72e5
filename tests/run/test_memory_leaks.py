"""``profile = memory`` on a churn point against a real Daphne: memray's leak view per
cycle names the planted leak's line (consumers/chat/faults.py's ``KEPT.append``), with
one worker and with two (each wrapped by the supervisor, their captures merged), the
server's memory is read but not judged under memray, and the report names the line;
``profile = cpu`` covers the churn's cycles; a server whose workers memray cannot follow
is refused before anything starts."""

import statistics
from pathlib import Path

import pytest
from helpers import one_error_line, run_matrix

from bench.cli import main
from bench.report import churn as churn_report
from bench.results import store

FAULTS = Path(__file__).resolve().parents[2] / "consumers" / "chat" / "faults.py"
LEAK_LINE = next(
    n for n, text in enumerate(FAULTS.read_text().splitlines(), 1) if "KEPT.append(bytear" in text
)
LEAK_BYTES = 65536  # faults.py's default
CLIENTS = 6
WARMUP_CYCLES = 1
CHURN = f"""consumer = "async"
clients = {CLIENTS}
rooms = 2
mode = "closed"
warmup_s = 0
duration_s = 0.3
messages = 2
drain_quiet_s = 0.3
cycles = 5
warmup_cycles = {WARMUP_CYCLES}
settle_s = 1.0
"""


@pytest.mark.timeout(300)
def test_the_planted_leak_is_found_on_its_line_with_one_and_two_workers(tmp_path):
    code, result = run_matrix(
        # Redis: rooms that span two workers.
        tmp_path,
        CHURN + 'layer = "redis"\nfault = "leak"\nprofile = "memory"\nworkers = [1, 2]\n',
    )
    assert code == 0
    for point in result["points"]:
        workers = point["point"]["workers"]
        (rep,) = point["repeats"]
        assert rep["status"] == "ok", rep.get("reason")
        profile = rep["profile"]
        assert profile["error"] is None and profile["survivors_error"] is None, profile
        files = [p["file"] for p in profile["processes"]]
        assert [Path(f).name for f in files] == (
            ["r0.memray.bin"] if workers == 1 else ["r0.w0.memray.bin", "r0.w1.memray.bin"]
        )
        assert all((tmp_path / "results" / f).stat().st_size > 0 for f in files)
        assert len({p["pid"] for p in profile["processes"]} - {0}) == workers
        top = profile["survivors"][0]
        assert (top["file"], top["line"], top["function"]) == (
            "chat/faults.py",
            LEAK_LINE,
            "connect",
        ), profile["survivors"][:3]
        judged = top["bytes_by_cycle"][WARMUP_CYCLES:]
        # Every connection's bytearray, each cycle (plus the list's growth, on that line).
        assert CLIENTS * LEAK_BYTES <= statistics.median(judged) < 1.1 * CLIENTS * LEAK_BYTES
        assert top["stack"][0] == f"connect (chat/faults.py:{LEAK_LINE})"
        # memray's own memory grows: the server's RSS is read, not judged, under it.
        assert "memray" in rep["churn"]["unavailable"]["rss_bytes"]
        assert "rss_bytes" not in {v["metric"] for v in rep["churn"]["verdicts"]}
    run = store.read(next((tmp_path / "results").glob("*.json")))
    held = churn_report.survivor_table(run)
    assert held is not None and f"chat/faults.py:{LEAK_LINE}" in held[1][0]
    summary = churn_report.summary_items(run)
    assert sum(f"most held per cycle at chat/faults.py:{LEAK_LINE} " in s for s in summary) == 2
    assert not any(s.startswith("no counter leaking") for s in summary)  # not judged


@pytest.mark.timeout(240)
def test_cpu_profile_covers_the_churn_cycles(tmp_path):
    code, result = run_matrix(tmp_path, CHURN + 'layer = "memory"\nprofile = "cpu"\n')
    assert code == 0
    (point,) = result["points"]
    (rep,) = point["repeats"]
    profile = rep["profile"]
    assert profile["error"] is None and profile["point_file"], profile
    assert sum(p["samples"] for p in profile["processes"]) > 0
    cycles = sum(c["duration_s"] for c in rep["churn"]["cycles"])
    assert profile["window_s"] >= cycles  # every cycle, and the settles between


def test_memory_on_hypercorn_is_refused_before_anything_starts(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(f'name = "x"\n[matrix]\nserver = "hypercorn"\nprofile = "memory"\n{CHURN}')
    results = tmp_path / "results"
    code = main(["run", str(path), "--results-dir", str(results), "--no-calibrate"])
    assert code == 2
    assert "profile = memory on hypercorn" in one_error_line(capsys)
    assert not list(results.glob("*/profiles")) and not list(tmp_path.glob("**/*.log"))
