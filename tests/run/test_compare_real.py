"""Compare on real runs: an A/A pair finds nothing, a deliberately slowed consumer fails.

Three tiny runs (one point, 5 repeats each, about 16 s apiece) are shared by the tests of
this module: two of the same code and scenario, and one with the ``slow`` fault (the
async consumer plus CHANBENCH_SLOW_MS before each broadcast), relabelled as fault-free
so that compare matches it with the base. Four repeats a side is the fewest with which
the Mann-Whitney U test can reach p < 0.05; the slowed consumer's throughput, p50 and p99
are three tests that could fail the gate, and Holm-Bonferroni asks the first of them for
p < 0.05 / 3, which takes 5 (2/252 = 0.0079).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from bench.cli import main

REPO_DIR = Path(__file__).resolve().parents[2]
# Overrides that shrink the default scenario (scenarios/quick.toml) to 10 clients and 5
# short repeats; not the TINY scenario of tests/helpers.py.
TINY_SETS = [
    "--set",
    "clients=10",
    "--set",
    "repeats=5",
    "--set",
    "duration_s=1",
    "--set",
    "warmup_s=0.3",
    "--no-calibrate",
    "--no-report",
]
# Round trips take about 17 ms here; 100 ms more per message cuts a closed loop's
# throughput about sixfold. The runs are minutes apart, not interleaved, and a base run
# while the shared machine was saturated measured 3x slower than usual (56 ms round
# trips), faster than the 20 ms slowing once was: the change must dwarf such a run.
SLOW_MS = "100"
RUN_TIMEOUT_S = 180


def chanbench_run(results_dir: Path, *args: str, env: dict[str, str] | None = None) -> Path:
    """Run ``chanbench run`` in a subprocess (its own signals and output); return the file."""
    before = set(results_dir.glob("*.json"))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.cli", "run", *args, "--results-dir", str(results_dir)],
        cwd=REPO_DIR,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = set(results_dir.glob("*.json")) - before
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    results = tmp_path_factory.mktemp("results")
    base = chanbench_run(results, *TINY_SETS, "--set", "consumer=async")
    again = chanbench_run(results, *TINY_SETS, "--set", "consumer=async")
    slow = chanbench_run(
        results,
        *TINY_SETS,
        "--set",
        "consumer=async",
        "--set",
        "fault=slow",
        env={"CHANBENCH_SLOW_MS": SLOW_MS},
    )
    relabelled = json.loads(slow.read_text())
    for point in relabelled["points"]:
        point["point"]["fault"] = "none"
    slowed = results / "slowed-as-async.json"
    slowed.write_text(json.dumps(relabelled))
    return {"base": base, "again": again, "slowed": slowed}


def test_a_a_comparison_finds_no_regression(runs, capsys):
    # The fail threshold allows for this shared machine's drift between runs minutes apart;
    # the verdicts themselves use the default 10% threshold.
    code = main(["compare", str(runs["base"]), str(runs["again"]), "--fail-threshold", "25%"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "REGRESSION" not in out and "no regression past 25%" in out
    assert "async clients=10" in out and "only in" not in out


def test_slowed_consumer_is_a_regression(runs, capsys):
    code = main(["compare", str(runs["base"]), str(runs["slowed"])])
    out = capsys.readouterr().out
    assert code == 1, out
    row = next(line for line in out.splitlines() if "delivered/s" in line and "async" in line)
    assert row.endswith("WORSE (fails)")
    assert "0.008" in row  # 5 against 5 repeats, no overlap: p = 2/252
    assert "REGRESSION:" in out


def test_report_overlays_real_runs(runs, tmp_path, capsys):
    out_dir = tmp_path / "report"
    assert main(["report", str(runs["base"]), str(runs["slowed"]), "-o", str(out_dir)]) == 0
    readme = (out_dir / "README.md").read_text()
    # The base's long name (time_scenario+overrides_commit) is shortened to time and commit.
    (label,) = report.source_labels([runs["base"]])
    assert len(label) < len(runs["base"].stem)
    assert f"### {label}" in readme and "### slowed-as-async" in readme
    assert f"{label}: {runs['base'].name}" in readme
    svg = (out_dir / "throughput.svg").read_text()
    assert label in svg and "slowed-as-async" in svg  # one legend line each
