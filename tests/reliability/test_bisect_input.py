"""``chanbench bisect``'s bad input: each a one-line error, exit 2, before anything is
built or measured (no environment, no server, no result folder)."""

from __future__ import annotations

import probe_repo
import pytest
from helpers import one_error_line
from probe_repo import FAST, commit, module

from bench.cli import main


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.setenv("CHANBENCH_ENV_CACHE", str(tmp_path / "envs"))
    repo = probe_repo.make(tmp_path)
    commit(repo, "a comment", module(FAST, "one"))
    probe_repo.git(repo, "tag", "bad")
    probe_repo.git(repo, "checkout", "-q", "-b", "side", "good")
    commit(repo, "on a side branch", module(FAST, "side"))
    return repo


CASES = {
    "not-a-repo": (["--repo", "{tmp}", "--good", "good", "--bad", "bad"], "not a git repository"),
    "no-folder": (["--repo", "{tmp}/nowhere", "--good", "good", "--bad", "bad"], "no such folder"),
    "unknown-good": (["--good", "v9.9", "--bad", "bad"], "--good v9.9: unknown revision"),
    "unknown-bad": (["--good", "good", "--bad", "nope"], "--bad nope: unknown revision"),
    "same": (["--good", "good", "--bad", "main~1"], "are the same commit"),
    "not-ancestor": (["--good", "side", "--bad", "bad"], "--good side is not an ancestor"),
    "bad-metric": (["--good", "good", "--bad", "bad", "--metric", "speed"], "unknown metric"),
    "unmeasured": (
        ["--good", "good", "--bad", "bad", "--metric", "lost_writes"],
        "does not measure it",
    ),
    "few-repeats": (
        ["--good", "good", "--bad", "bad", "--max-repeats", "2"],
        "at least the scenario's 4 repeats",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_bisect_input_is_one_line(tmp_path, repo, capsys, nothing_started, case):
    args, expected = CASES[case]
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--repo" not in args:
        args = ["--repo", str(repo), *args]
    scenario = tmp_path / "probe.toml"
    scenario.write_text(probe_repo.SCENARIO)
    results = tmp_path / "results"
    code = main(["bisect", str(scenario), *args, "--results-dir", str(results)])
    assert code == 2
    assert expected in one_error_line(capsys)
    assert not results.exists()
    assert not (tmp_path / "envs").exists()


HISTORY_CASES = {
    "no-range": ("good", [], "write the range as OLD..NEW"),
    "unknown-old": ("v0..bad", [], "OLD v0: unknown revision"),
    "reversed": ("bad..good", [], "OLD bad is not an ancestor of NEW good"),
    "every-zero": ("good..bad", ["--every", "0"], "--every 0: must be 1 or more"),
}


@pytest.mark.parametrize("case", sorted(HISTORY_CASES))
def test_bad_history_input_is_one_line(tmp_path, repo, capsys, nothing_started, case):
    span, args, expected = HISTORY_CASES[case]
    scenario = tmp_path / "probe.toml"
    scenario.write_text(probe_repo.SCENARIO)
    results = tmp_path / "results"
    argv = ["history", span, str(scenario), *args, "--repo", str(repo)]
    argv += ["--results-dir", str(results)]
    assert main(argv) == 2
    assert expected in one_error_line(capsys)
    assert not results.exists()
