"""``chanbench bisect`` end to end on a repository the test makes (``probe_repo``): real
environments built from its commits, real servers, real clients, interleaved steps.

The repository: a fast probe (good), a commit outside the package, a comment, a commit
whose pyproject.toml does not parse, a fix, the commit that blocks 20 ms per message,
a comment (bad). Bisect skips the outside commit unmeasured, skips the broken one with a
line, and names the slow commit; between two fast commits it says there is no regression.
"""

from __future__ import annotations

import json
from pathlib import Path

import probe_repo
import pytest
from probe_repo import FAST, SLOW, commit, module

from bench.cli import main


def bisect(tmp_path: Path, repo: Path, good: str, bad: str, *extra: str) -> int:
    scenario = tmp_path / "probe.toml"
    scenario.write_text(probe_repo.SCENARIO)
    argv = ["bisect", str(scenario), "--repo", str(repo), "--good", good, "--bad", bad]
    return main([*argv, "--results-dir", str(tmp_path / "results"), *extra])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CHANBENCH_ENV_CACHE", str(tmp_path / "envs"))


@pytest.mark.timeout(900)
def test_bisect_names_the_slow_commit_and_skips_what_does_not_build(tmp_path, cache, capsys):
    repo = probe_repo.make(tmp_path)
    outside = commit(repo, "docs only", {"README.md": "a probe\n"})
    commit(repo, "a comment", module(FAST, "one"))
    broken = commit(
        repo, "break the build", {"pyproject.toml": "[project\n", **module(FAST, "two")}
    )
    commit(repo, "fix the build", {"pyproject.toml": probe_repo.PYPROJECT, **module(FAST, "3")})
    slow = commit(repo, "block on every message", module(SLOW))
    commit(repo, "another comment", module(SLOW, "five"))

    code = bisect(tmp_path, repo, "good", "HEAD", "--max-repeats", "8")

    out = capsys.readouterr().out
    assert code == 0, out
    assert f"first bad commit: {slow} block on every message\n" in out
    assert f"skip {broken[:10]} break the build: does not build" in out
    assert outside[:10] not in out  # outside the package: never a candidate
    (folder,) = (tmp_path / "results").glob("bisect-*")
    log = (folder / "bisect.log").read_text()
    assert f"first bad commit: {slow}" in log
    # Two measured steps (the fix against good and bad, then the slow one), each a result
    # file of three environments, kept.
    steps = sorted(folder.glob("*_probe-step*.json"))
    assert [p.name.split("_")[1] for p in steps] == ["probe-step1", "probe-step2"]
    for path in steps:
        envs = {p["point"]["env"] for p in json.loads(path.read_text())["points"]}
        assert len(envs) == 3
    # The change is the slow commit against the fix before it, worse past any noise.
    change = out.split("the change: ", 1)[1].splitlines()[0]
    assert "worse" in change
    ratio = float(change.split("x (")[0].split()[-1])
    assert ratio < 0.7


@pytest.mark.timeout(900)
def test_bisect_without_a_regression_says_so(tmp_path, cache, capsys):
    # Good and bad alone: one pair judged per batch, so that noise has one chance, not
    # three, to look like a step.
    repo = probe_repo.make(tmp_path)
    commit(repo, "a comment", module(FAST, "one"))

    code = bisect(tmp_path, repo, "good", "HEAD", "--max-repeats", "8")

    out = capsys.readouterr().out
    assert code == 0, out
    # Undecided after a batch, the step measured a second, pooled, then stopped at the bound.
    assert "  measuring 4 more repeats a side\n" in out
    assert "  8 repeats a side in " in out
    assert "no regression between good" in out
    assert "first bad commit" not in out
    (folder,) = (tmp_path / "results").glob("bisect-*")
    assert len(list(folder.glob("*_probe-step1*.json"))) == 2
