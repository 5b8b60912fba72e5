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
from helpers import scale_repeat, with_envs, with_repeats

from bench.cli import main
from bench.cli.read import parse_threshold
from bench.judge import compare
from bench.results import store
from bench.results.metrics import METRICS

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
REAL = DATA_DIR / "quick_small.json"
GOLDEN = DATA_DIR / "compare_golden.txt"


def real_result() -> dict:
    return json.loads(REAL.read_text())


def open_loop(result: dict) -> dict:
    """The same result as if measured in open loop, where latency is gated too."""
    out = copy.deepcopy(result)
    for point in out["points"]:
        point["params"]["mode"] = "open"
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
    for metric in (METRICS[name].label for name in compare.COMPARED):
        assert verdicts(out, metric) == ["not significant"] * 4


def test_halved_throughput_is_a_regression(tmp_path, capsys):
    # Open loop: 12 gated tests (throughput, p50, p99 at 4 points; loss is 0 everywhere,
    # all one value, left out): Holm asks the first for p < 0.05/12, which 6 repeats a
    # side reach (2/924 = 0.0022) and 5 do not (0.0079).
    base = open_loop(with_repeats(real_result(), 6))
    new = scaled(base, delivered_per_s=0.5, p50_ms=2.0, p99_ms=2.0)
    code, out, _ = run_compare(tmp_path, capsys, base, new)
    assert code == 1
    assert verdicts(out, "delivered/s") == ["WORSE (fails)"] * 4
    assert verdicts(out, "p99 ms") == ["WORSE (fails)"] * 4
    assert verdicts(out, "threads") == ["not significant"] * 4
    assert "0.50x" in out and "-50.0%" in out
    assert "0.002   0.026" in out  # p = 2/924, and Holm's over 12 tests: 12 x 2/924
    assert "REGRESSION: 12 changes worse by 10% (loss: 0.1 points) or more" in out
    assert "over 4 points: 0.50x" in out


def test_closed_loop_latency_is_informational(tmp_path, capsys):
    """In closed loop latency follows from throughput (Little's law): the gate judges the
    throughput alone, over 4 tests (2/924 x 4 = 0.0087), and the latency is shown."""
    base = with_repeats(real_result(), 6)
    new = scaled(base, delivered_per_s=0.5, p50_ms=2.0, p99_ms=2.0)
    code, out, _ = run_compare(tmp_path, capsys, base, new)
    assert code == 1
    assert verdicts(out, "delivered/s") == ["WORSE (fails)"] * 4
    assert verdicts(out, "p99 ms") == ["worse (info)"] * 4
    assert "0.002   0.009" in out
    assert "REGRESSION: 4 changes worse by 10%" in out


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
    base = with_repeats(real_result(), 6)
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


def table_of(out: str) -> str:
    """The table of ``compare``'s text output, without the legend."""
    return out.split("\n\n")[1]


def with_loss(result: dict, losses: list[float]) -> dict:
    """Each point's repeat i with the loss ratio ``losses[i]`` (the ratio alone)."""
    out = copy.deepcopy(result)
    for point in out["points"]:
        for rep, loss in zip(point["repeats"], losses, strict=True):
            rep["loss_ratio"] = loss
    return out


def test_new_loss_is_a_regression(tmp_path, capsys):
    # From none to 1-5% in every repeat: 1 to 5 percentage points, past the 0.1 points of
    # the loss gate, every repeat apart (p = 2/924 = 0.0022, x8 by Holm over throughput
    # and loss at 4 points: 0.017).
    base = with_loss(with_repeats(real_result(), 6), [0.0] * 6)
    new = with_loss(base, [0.01, 0.02, 0.03, 0.03, 0.04, 0.05])
    code, out, _ = run_compare(tmp_path, capsys, base, new)
    assert code == 1
    assert verdicts(out, "loss") == ["WORSE (fails)"] * 4
    assert "+3.00 pp" in out and "+inf" not in table_of(out)
    # Past the 0.1% loss bound, the latency of what arrived is not judged.
    assert verdicts(out, "p99 ms") == ["not judged (loss > 0.10%)"] * 4
    assert "sync clients=10: latency not judged: new lost 5.00%" in out


def test_loss_gate_is_an_absolute_difference(tmp_path, capsys):
    """Issue 9, item 14: no loss against 0.001% gave a ratio of +inf and failed the gate."""
    base = with_loss(with_repeats(real_result(), 6), [0.0] * 6)
    new = with_loss(base, [1e-5, 2e-5, 0.0, 1e-5, 3e-5, 2e-5])
    code, out, _ = run_compare(tmp_path, capsys, base, new)
    assert code == 0, out
    assert verdicts(out, "loss") == ["not significant"] * 4
    assert "+0.00 pp" in out and "+inf" not in table_of(out)
    # The threshold is an option: 5 points of loss pass a gate of 10 points.
    worse = with_loss(base, [0.03, 0.04, 0.05, 0.06, 0.07, 0.08])
    assert compare.compare(from_json(base), from_json(worse)).exit_code == 1
    loose = compare.compare(from_json(base), from_json(worse), loss_threshold=0.10)
    assert loose.exit_code == 0
    assert run_compare(tmp_path, capsys, base, worse, "--loss-threshold", "10%")[0] == 0
    assert run_compare(tmp_path, capsys, base, worse)[0] == 1


def from_json(result: dict):
    return store.from_json(copy.deepcopy(result))


def lossy(result: dict, loss: float) -> dict:
    """Every repeat's books with ``loss`` of its expected deliveries missing: the
    delivered ones (and their histogram) as they were, more expected."""
    out = copy.deepcopy(result)
    for point in out["points"]:
        for rep in point["repeats"]:
            counts = rep["counts"]
            counts["expected"] = round(counts["delivered"] / (1 - loss))
            counts["lost"] = counts["expected"] - counts["delivered"]
            rep["loss_ratio"] = counts["lost"] / counts["expected"]
    return out


def test_a_p99_past_the_lost_messages_reads_as_lost(tmp_path, capsys):
    """Issue 9, item 2: with 10% lost, the p99 over every expected delivery is a lost
    message; the p99 of the 90% that arrived used to stand in for it."""
    base = with_repeats(real_result(), 6)
    new = lossy(base, 0.10)
    code, out, _ = run_compare(tmp_path, capsys, base, new)
    p99_rows = [line for line in out.splitlines() if "  p99 ms  " in line]
    assert len(p99_rows) == 4
    assert all(">drain (lost)" in line for line in p99_rows), p99_rows
    # p50 is still there: the delivered p55.6.
    p50_rows = [line for line in out.splitlines() if "  p50 ms  " in line]
    assert not any("lost" in line for line in p50_rows)
    assert verdicts(out, "p99 ms") == ["not judged (loss > 0.10%)"] * 4
    assert code == 1 and verdicts(out, "loss") == ["WORSE (fails)"] * 4
    assert "+10.00 pp" in out


def test_a_point_that_failed_in_new_is_a_regression(tmp_path, capsys):
    base = with_repeats(real_result(), 4)
    new = copy.deepcopy(base)
    new["points"][0]["repeats"] = [{"repeat": 0, "status": "failed", "reason": "daphne died"}]
    code, out, _ = run_compare(tmp_path, capsys, base, new)
    assert code == 1
    assert "FAILED (fails)" in out


def test_a_point_that_failed_in_base_cannot_pass_the_gate(tmp_path, capsys):
    """A base that cannot serve the scenario (an older site) measured nothing to hold
    new against: exit 4 (not judged), neither a pass nor bad input (2); a regression
    elsewhere still exits 1."""
    new = with_repeats(real_result(), 6)
    base = copy.deepcopy(new)
    base["points"][0]["repeats"] = [{"repeat": 0, "status": "failed", "reason": "HTTP 500"}]
    code, out, _ = run_compare(tmp_path, capsys, base, new)
    assert code == 4
    assert "NOT JUDGED: base has no measurement of sync clients=10 (its repeats failed" in out
    code, out, _ = run_compare(tmp_path, capsys, base, scaled(new, delivered_per_s=0.5))
    assert code == 1 and "REGRESSION:" in out


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
    assert "as environments ([envs.NAME] or --env NAME=PATH)" in err
    assert "--between env=A,B" in err and err.count("\n") == 1


@pytest.mark.parametrize("text", ["abc", "-5%", "nan"])
def test_bad_threshold_is_a_usage_error(capsys, text):
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(REAL), str(REAL), "--threshold", text])
    assert exc.value.code == 2
    assert "--threshold" in capsys.readouterr().err


def test_threshold_accepts_percent_and_fraction():
    assert parse_threshold("10%") == pytest.approx(0.10)
    assert parse_threshold("0.25") == pytest.approx(0.25)
    assert parse_threshold(" 5 %".replace(" ", "")) == pytest.approx(0.05)


def test_markdown_for_ci_comments(tmp_path, capsys):
    base = open_loop(with_repeats(real_result(), 6))
    code, out, _ = run_compare(tmp_path, capsys, base, scaled(base, p99_ms=3.0), "--format", "md")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "### chanbench compare: regression"
    assert "| point | metric | base | new | ratio | change | p | p Holm | verdict |" in lines
    assert any(
        line.startswith("| sync clients=10 | p99 ms |") and "WORSE (fails)" in line
        for line in lines
    )
    assert any(line.startswith("- REGRESSION: 4 changes") for line in lines)


def test_charts_overlay_base_and_new(tmp_path, capsys):
    base = with_repeats(real_result(), 5)
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
    base = with_repeats(real_result(), 5)
    new = scaled(base, delivered_per_s=0.6, p99_ms=1.05, cpu_percent=0.7)
    Path("base.json").write_text(json.dumps(base))
    Path("new.json").write_text(json.dumps(new))
    code = main(["compare", "base.json", "new.json"])
    out = capsys.readouterr().out
    assert code == 1
    if os.environ.get("CHANBENCH_REGEN_GOLDEN") == "1":
        GOLDEN.write_text(out)
    assert out == GOLDEN.read_text()


def points_of(result: dict, copies: int) -> dict:
    """``copies`` copies of every point, each copy at another ``clients`` value."""
    out = copy.deepcopy(result)
    points = []
    for k in range(copies):
        for point in copy.deepcopy(result["points"]):
            point["params"]["clients"] += 1000 * k
            point["id"] = point["label"] = f"{point['label']} copy {k}"
            points.append(point)
    out["points"] = points
    return out


def set_values(point: dict, path: tuple[str, ...], values: list[float]) -> None:
    for rep, value in zip(point["repeats"], values, strict=True):
        holder = rep
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = value


def test_holm_keeps_noise_level_changes_from_failing_the_gate(tmp_path, capsys):
    """Issue 9, item 14: 16 points whose p99 rose 22% with p = 0.017 each (7 repeats a
    side, 6 of 49 pairs the other way round) all failed the gate at alpha = 0.05; over
    the 48 gated tests (throughput, p50 and p99 at 16 open-loop points), Holm-Bonferroni
    leaves them noise, while a point whose throughput halved (p = 2/3432 = 0.00058,
    48 x 0.00058 = 0.028) still fails."""
    base = open_loop(points_of(with_repeats(real_result(), 7), 4))
    new = copy.deepcopy(base)
    for b, n in zip(base["points"], new["points"], strict=True):
        set_values(b, ("latency_ms", "p99"), [100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 106.0])
        set_values(n, ("latency_ms", "p99"), [102.5, 104.5, 125.0, 126.0, 127.0, 128.0, 129.0])
    halved = new["points"][5]
    for rep in halved["repeats"]:
        rep["throughput"]["delivered_per_s"] *= 0.5
    code, out, _ = run_compare(tmp_path, capsys, base, new)
    p99 = verdicts(out, "p99 ms")
    assert p99 == ["not significant (Holm)"] * 16, p99
    assert "0.017" in out
    assert code == 1
    (failing,) = [line for line in out.splitlines() if "WORSE (fails)" in line]
    params = halved["params"]
    assert failing.startswith(f"{params['consumer']} clients={params['clients']} ")
    assert "delivered/s" in failing
    assert "16 worse changes with p < 0.05 alone, not significant over the 48 gated tests" in out
    assert "p Holm: Holm-Bonferroni adjusted over the 48 gated tests" in " ".join(out.split())


def test_the_family_is_chosen_before_the_direction_is_seen(tmp_path, capsys):
    """An A/A pair of quick.toml flagged the async p50 +17% (p = 0.024) when the family
    was only the tests already worse by the fail threshold (a family of 1, no correction
    at all). Holm over every gated test does not pick its family by the outcome: one
    worse latency among 12 open-loop tests at p = 0.024 is noise."""
    base = open_loop(with_repeats(real_result(), 5))
    new = copy.deepcopy(base)
    point = new["points"][3]
    set_values(base["points"][3], ("latency_ms", "p50"), [10.0, 10.2, 10.4, 10.6, 10.8])
    set_values(point, ("latency_ms", "p50"), [10.5, 11.9, 12.0, 12.1, 12.2])
    code, out, _ = run_compare(tmp_path, capsys, base, new, "--fail-threshold", "15%")
    assert code == 0, out
    assert verdicts(out, "p50 ms")[3] == "not significant (Holm)"
    assert "over the 12 gated tests" in " ".join(out.split())


def test_legend_states_the_smallest_p_of_the_actual_repeats(tmp_path, capsys):
    """Issue 9, item 14: the legend said 4 repeats a side were needed; 3 against 5
    reaches p = 2 / C(8, 3) = 0.036."""
    base = with_repeats(real_result(), 3)
    new = with_repeats(real_result(), 5)
    code, out, _ = run_compare(tmp_path, capsys, base, scaled(new, delivered_per_s=0.5))
    flat = " ".join(out.split())
    assert "4 per side" not in flat
    assert "the smallest p it can reach: 0.036 for 3 vs 5 repeats" in flat
    # Every repeat apart and p = 0.036 < 0.05: a verdict, not "uncertain"; but 4 tests
    # are gated, and 0.036 is not below 0.05 / 4: the gate says so.
    assert verdicts(out, "delivered/s") == ["not significant (Holm)"] * 4
    assert "smallest p the repeats can reach (0.036) is not below 0.05/4" in flat
    assert code == 0


def test_between_compares_two_values_of_a_key_inside_one_result(tmp_path, capsys):
    """Issue 12, item 4: any key's two values inside one run, with compare's verdicts and
    exit codes (the async consumer is the faster one here)."""
    path = write(tmp_path, "run.json", with_repeats(real_result(), 5))
    assert main(["compare", path, "--between", "consumer=sync,async"]) == 0
    out = capsys.readouterr().out
    assert f"base: {path} [consumer=sync]" in out and f"new:  {path} [consumer=async]" in out
    assert verdicts(out, "delivered/s") == ["better", "better"]
    # The other way round, async is the base: the sync consumer is a regression.
    assert main(["compare", path, "--between", "consumer=async,consumer=sync"]) == 1
    assert verdicts(capsys.readouterr().out, "delivered/s") == ["WORSE (fails)"] * 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--between", "consumer=sync,nope"], "no point with consumer = nope"),
        (["--between", "consumer=sync"], "give a key and two of its values"),
        ([], "compare needs BASE.json NEW.json, or one result and --between"),
    ],
)
def test_between_refuses_what_it_cannot_compare(tmp_path, capsys, args, words):
    path = write(tmp_path, "run.json", real_result())
    assert main(["compare", path, *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and words in err


def software(channels: str, executable: str) -> dict:
    return {
        "python": "3.11.7",
        "executable": executable,
        "packages": {"channels": channels, "daphne": "4.2.1"},
    }


def test_between_environments_names_the_versions_that_differ(tmp_path, capsys):
    result = with_envs(
        with_repeats(real_result(), 5),
        {"old": software("4.1.0", "/envs/a/bin/python"), "new": software("4.3.2", "/b")},
    )
    path = write(tmp_path, "run.json", result)
    main(["compare", path, "--between", "env=old,new"])
    assert "the servers ran different versions: channels 4.1.0 -> 4.3.2" in capsys.readouterr().out


def test_two_environments_that_resolved_alike_are_said_to(tmp_path, capsys):
    """Two interpreters, the same versions: said so; one interpreter: nothing to say."""
    same = {"a": software("4.3.2", "/envs/a/bin/python"), "b": software("4.3.2", "/b")}
    path = write(tmp_path, "run.json", with_envs(with_repeats(real_result(), 5), same))
    main(["compare", path, "--between", "env=a,b"])
    out = capsys.readouterr().out
    assert "the servers ran the same versions from two interpreters (python 3.11.7, " in out
    assert "channels 4.3.2, daphne 4.2.1): what differs between them is not these" in out
    one = {"a": software("4.3.2", "/py"), "b": software("4.3.2", "/py")}
    path = write(tmp_path, "one.json", with_envs(with_repeats(real_result(), 5), one))
    main(["compare", path, "--between", "env=a,b"])
    assert "the servers ran" not in capsys.readouterr().out
