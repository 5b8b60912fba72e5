"""``chanbench history`` end to end on a repository the test makes (``probe_repo``):
every commit measured in interleaved blocks, the change point found at the commit that
blocks 20 ms per message and confirmed nowhere else, the page written, and a second
history over the same folder measuring only the commit added since."""

from __future__ import annotations

import json
from pathlib import Path

import probe_repo
import pytest
from probe_repo import FAST, SLOW, commit, module

from bench.cli import main


def history(tmp_path: Path, repo: Path) -> int:
    scenario = tmp_path / "probe.toml"
    scenario.write_text(probe_repo.SCENARIO)
    argv = ["history", "good..HEAD", str(scenario), "--repo", str(repo)]
    return main([*argv, "--results-dir", str(tmp_path / "results")])


def envs(path: Path) -> set[str]:
    return {p["point"]["env"] for p in json.loads(path.read_text())["points"]}


@pytest.mark.timeout(900)
def test_history_finds_the_step_and_measures_only_new_commits(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHANBENCH_ENV_CACHE", str(tmp_path / "envs"))
    repo = probe_repo.make(tmp_path)
    commit(repo, "a comment", module(FAST, "one"))
    slow = commit(repo, "block on every message", module(SLOW))
    last = commit(repo, "another comment", module(SLOW, "three"))

    assert history(tmp_path, repo) == 0
    out = capsys.readouterr().out
    (folder,) = (tmp_path / "results").glob("history-*")
    confirmed = [line for line in out.splitlines() if line.endswith("(confirmed)")]
    assert len(confirmed) == 1, out
    assert f"change point at {slow[:10]} block on every message" in confirmed[0]
    assert "1 confirmed change points" in out
    page = (folder / "report" / "index.html").read_text()
    assert "block on every message" in page and "confirmed" in page
    assert list((folder / "report").glob("history-*.png"))
    first = set(folder.glob("*.json"))
    (block,) = [p for p in first if "_probe-block-" in p.name]
    assert len(envs(block)) == 4

    added = commit(repo, "a third comment", module(SLOW, "four"))
    assert history(tmp_path, repo) == 0
    out = capsys.readouterr().out
    assert "5 commits, 4 measured before" in out
    new = [p for p in set(folder.glob("*.json")) - first if "_probe-block-" in p.name]
    assert len(new) == 1
    assert envs(new[0]) == {last[:10], added[:10]}  # the new commit, led by the one before
    assert f"change point at {slow[:10]}" in out
