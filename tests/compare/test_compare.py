"""``chanbench compare`` on results built from a real one: verdicts, exit codes, refusals.

The base is ``tests/data/quick_small.json`` (a real run, 3 repeats a point) widened to
the repeats a test needs; the new result is a copy with chosen metrics scaled, so each
test knows the right verdict in advance.
"""

import copy
import json
import os
from pathlib import Path

import pytest
from helpers import scale_repeat

from bench import compare
from bench.cli import main
from bench.results import METRICS

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
REAL = DATA_DIR / "quick_small.json"
GOLDEN = DATA_DIR / "compare_golden.txt"


def real_result() -> dict:
    return json.loads(REAL.read_text())


def with_repeats(result: dict, count: int) -> dict:
    """Each point with ``count`` ok repeats: the real ones cycled, each copy nudged by
    0.1% so that no two values tie."""
    out = copy.deepcopy(result)
    for point in out["points"]:
        real = [r for r in point["repeats"] if r["status"] == "ok"]
        reps = []
        for i in range(count):
            rep = copy.deepcopy(real[i % len(real)])
            rep["repeat"] = i
            scale_repeat(rep, dict.fromkeys(METRICS, 1 + 0.001 * i))
            reps.append(rep)
        point["repeats"] = reps
    return out


def scaled(result: dict, **factors: float) -> dict:
    out = copy.deepcopy(result)
    for point in out["points"]:
        for rep in point["repeats"]:
            scale_repeat(rep, factors)
    return out


def write(tmp_path: Path, name: str, result: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(result))
    return str(path)


def run_compare(tmp_path, capsys, base: dict, new: dict, *args: str) -> tuple[int, str, str]:
    code = main(
        ["compare", write(tmp_path, "base.json", base), write(tmp_path, "new.json", new), *args]
    )
    out, err = capsys.readouterr()
    return code, out, err


def verdicts(out: str, metric: str) -> list[str]:
    """The verdict column of ``metric``'s rows in the text table."""
    rows = [line for line in out.splitlines() if f"  {metric}  " in f"  {line}  "]
    return [line.split("  ")[-1].strip() for line in rows]


def test_identical_results_are_not_significant(tmp_path, capsys):
    base = with_repeats(real_result(), 4)
    code, out, err = run_compare(tmp_path, capsys, base, copy.deepcopy(base))
    assert code == 0, out + err
    assert "no regression past 10%" in out
    assert "geometric mean of delivered/s, new/base, over 4 points: 1.00x" in out
    for metric in compare.NAMES.values():
        assert verdicts(out, metric) == ["not significant"] * 4


def test_halved_throughput_is_a_regression(tmp_path, capsys):
    base = with_repeats(real_result(), 4)
    new = scaled(base, delivered_per_s=0.5, p50_ms=2.0, p99_ms=2.0)
    code, out, _ = run_compare(tmp_path, capsys, base, new)
    assert code == 1
    assert verdicts(out, "delivered/s") == ["WORSE (fails)"] * 4
    assert verdicts(out, "p99 ms") == ["WORSE (fails)"] * 4
    assert verdicts(out, "threads") == ["not significant"] * 4
    assert "0.50x" in out and "-50.0%" in out and "0.029" in out  # 2/70: 4 vs 4, no overlap
    assert "REGRESSION: 12 changes worse by 10% or more" in out
    assert "over 4 points: 0.50x" in out


def test_improvement_passes_the_gate(tmp_path, capsys):
    base = with_repeats(real_result(), 4)
    code, out, _ = run_compare(tmp_path, capsys, base, scaled(base, delivered_per_s=1.5))
    assert code == 0
    assert verdicts(out, "delivered/s") == ["better"] * 4


def test_change_under_the_threshold_is_not_significant(tmp_path, capsys):
    base = with_repeats(real_result(), 5)
    for point in base["points"]:  # repeats 0.1% apart: a 5% drop separates them all
        for i, rep in enumerate(point["repeats"]):
            rep["throughput"]["delivered_per_s"] = 1000.0 + i
    code, out, _ = run_compare(tmp_path, capsys, base, scaled(base, delivered_per_s=0.95))
    assert code == 0
    assert verdicts(out, "delivered/s") == ["not significant"] * 4
    # A lower threshold makes the same 5% drop a regression.
    code, out, _ = run_compare(
        tmp_path, capsys, base, scaled(base, delivered_per_s=0.95), "--threshold", "3%"
    )
    assert code == 1
    assert verdicts(out, "delivered/s") == ["WORSE (fails)"] * 4


def test_fail_threshold_separates_reporting_from_failing(tmp_path, capsys):
    base = with_repeats(real_result(), 4)
    new = scaled(base, delivered_per_s=0.7)  # -30%: worse, but under a 35% fail threshold
    code, out, _ = run_compare(tmp_path, capsys, base, new, "--fail-threshold", "0.35")
    assert code == 0
    assert verdicts(out, "delivered/s") == ["worse"] * 4
    assert "no regression past 35%" in out


def test_too_few_repeats_is_uncertain_not_a_regression(tmp_path, capsys):
    base = with_repeats(real_result(), 2)
    code, out, _ = run_compare(tmp_path, capsys, base, scaled(base, delivered_per_s=0.5))
    assert code == 0
    assert verdicts(out, "delivered/s") == ["uncertain (2 vs 2 repeats)"] * 4
    assert "2 vs 2 repeats cannot reach p < 0.05 (the smallest possible p is 0.33)" in out


def test_cpu_and_threads_are_informational(tmp_path, capsys):
    base = with_repeats(real_result(), 4)
    code, out, _ = run_compare(tmp_path, capsys, base, scaled(base, cpu_percent=1.5, threads=2.0))
    assert code == 0
    assert verdicts(out, "cpu %") == ["worse (info)"] * 4
    assert verdicts(out, "threads") == ["worse (info)"] * 4


def test_new_loss_is_a_regression(tmp_path, capsys):
    base = with_repeats(real_result(), 4)
    new = copy.deepcopy(base)
    for point in new["points"]:
        for i, rep in enumerate(point["repeats"]):
            rep["loss_ratio"] = 0.01 * (i + 1)
    code, out, _ = run_compare(tmp_path, capsys, base, new)
    assert code == 1
    assert verdicts(out, "loss") == ["WORSE (fails)"] * 4
    assert "+inf" in out


def test_a_point_that_failed_in_new_is_a_regression(tmp_path, capsys):
    base = with_repeats(real_result(), 4)
    new = copy.deepcopy(base)
    new["points"][0]["repeats"] = [{"repeat": 0, "status": "failed", "reason": "daphne died"}]
    code, out, _ = run_compare(tmp_path, capsys, base, new)
    assert code == 1
    assert "FAILED (fails)" in out


def test_points_match_by_params_but_repeats(tmp_path, capsys):
    base = with_repeats(real_result(), 4)
    new = with_repeats(real_result(), 5)
    for point in new["points"]:
        point["params"]["repeats"] = 5
        point["params"]["added_later"] = True  # a param only the newer chanbench has
    new["points"] = new["points"][1:]  # one point fewer
    code, out, _ = run_compare(tmp_path, capsys, base, new)
    assert code == 0
    assert "only in base (not compared): sync clients=10" in out
    assert len(verdicts(out, "delivered/s")) == 3


def test_no_matching_point_is_refused(tmp_path, capsys):
    base = real_result()
    new = copy.deepcopy(base)
    for point in new["points"]:
        point["params"]["duration_s"] = 9.0
    code, out, err = run_compare(tmp_path, capsys, base, new)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "no point of" in err and "they differ in duration_s" in err


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("host", "ci-runner-7", "on different machines (host 'vm' vs 'ci-runner-7')"),
        ("cpu_count", 64, "on different machines (cpu_count 2 vs 64)"),
        ("python", "3.13.0", "with different versions (python 3.11.7 vs 3.13.0)"),
    ],
)
def test_different_setups_are_refused_unless_forced(tmp_path, capsys, key, value, words):
    base = with_repeats(real_result(), 4)
    new = copy.deepcopy(base)
    new["environment"][key] = value
    code, out, err = run_compare(tmp_path, capsys, base, new)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and words in err and "--force" in err
    code, out, err = run_compare(tmp_path, capsys, base, new, "--force")
    assert code == 0
    assert f"warning: base and new ran {words}; compared anyway (--force)" in out


def test_different_package_versions_are_refused(tmp_path, capsys):
    base = real_result()
    new = copy.deepcopy(base)
    new["environment"]["packages"]["channels"] = "9.9.9"
    del new["environment"]["packages"]["redis"]
    code, _, err = run_compare(tmp_path, capsys, base, new)
    assert code == 2
    assert "channels 4.3.2 vs 9.9.9, redis 8.1.0 vs missing" in err


@pytest.mark.parametrize("text", ["abc", "-5%", "nan"])
def test_bad_threshold_is_a_usage_error(capsys, text):
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(REAL), str(REAL), "--threshold", text])
    assert exc.value.code == 2
    assert "--threshold" in capsys.readouterr().err


def test_threshold_accepts_percent_and_fraction():
    assert compare.parse_threshold("10%") == pytest.approx(0.10)
    assert compare.parse_threshold("0.25") == pytest.approx(0.25)
    assert compare.parse_threshold(" 5 %".replace(" ", "")) == pytest.approx(0.05)


def test_markdown_for_ci_comments(tmp_path, capsys):
    base = with_repeats(real_result(), 4)
    code, out, _ = run_compare(tmp_path, capsys, base, scaled(base, p99_ms=3.0), "--format", "md")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "### chanbench compare: regression"
    assert "| point | metric | base | new | ratio | change | p | verdict |" in lines
    assert any(
        line.startswith("| sync clients=10 | p99 ms |") and "WORSE (fails)" in line
        for line in lines
    )
    assert any(line.startswith("- REGRESSION: 4 changes") for line in lines)


def test_charts_overlay_base_and_new(tmp_path, capsys):
    base = with_repeats(real_result(), 4)
    charts = tmp_path / "charts"
    code, out, _ = run_compare(
        tmp_path, capsys, base, scaled(base, delivered_per_s=0.5), "--charts", str(charts)
    )
    assert code == 1
    assert f"charts: {charts}" in out
    for name in (
        "throughput",
        "latency",
        "threads",
        "cpu",
        "spectrum_clients-10",
        "timeline_clients-20",
    ):
        assert (charts / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (charts / f"{name}.svg").read_text().lstrip().startswith("<?xml")


def test_text_output_matches_golden_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = with_repeats(real_result(), 4)
    new = scaled(base, delivered_per_s=0.6, p99_ms=1.05, cpu_percent=0.7)
    Path("base.json").write_text(json.dumps(base))
    Path("new.json").write_text(json.dumps(new))
    code = main(["compare", "base.json", "new.json"])
    out = capsys.readouterr().out
    assert code == 1
    if os.environ.get("CHANBENCH_REGEN_GOLDEN") == "1":
        GOLDEN.write_text(out)
    assert out == GOLDEN.read_text()
