"""Environments end to end: the server runs from each one's interpreter (pins installed
from the package index into a cached virtualenv), repeats alternate across them, one that
cannot be built fails its points alone, and compare works within the run."""

import json
import os

import pytest
from helpers import run_matrix

from bench import environments
from bench.cli import main
from bench.scenario import CustomEnv

OLD = ["channels==4.1.0", "daphne==4.1.2"]


@pytest.mark.timeout(420)
def test_two_environments_in_one_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHANBENCH_ENV_CACHE", str(tmp_path / "envs"))
    envs = f"""[envs.old]
requirements = {json.dumps(OLD)}
[envs.broken]
requirements = ["channels==0.0.0"]
"""
    code, result = run_matrix(
        tmp_path,
        """env = ["current", "old", "broken"]
consumer = "async"
clients = 4
rooms = 2
warmup_s = 0.3
duration_s = 1.0
drain_quiet_s = 0.3
repeats = 2
""",
        head=envs,
    )
    assert code == 3  # the broken environment's points failed; the others ran
    points = {p["params"]["env"]: p for p in result["points"]}
    current, old, broken = points["current"], points["old"], points["broken"]
    assert old["software"]["packages"]["channels"] == "4.1.0"
    assert old["software"]["packages"]["daphne"] == "4.1.2"
    assert current["software"]["packages"]["channels"] != "4.1.0"
    assert old["software"]["executable"].startswith(str(tmp_path / "envs"))
    for point in (current, old):
        assert [r["status"] for r in point["repeats"]] == ["ok", "ok"]
    reasons = {r["reason"] for r in broken["repeats"]}
    assert len(reasons) == 1 and "environment broken" in reasons.pop()
    # Repeat 0 runs current before old, repeat 1 the other way round.
    start = {(e, r["repeat"]): r["started_at"] for e, p in points.items() for r in p["repeats"]}
    assert start[("current", 0)] < start[("old", 0)]
    assert start[("old", 1)] < start[("current", 1)]
    # Compare within the run: a verdict (2 repeats: uncertain at best) and an exit code.
    (path,) = (tmp_path / "results").glob("*.json")
    capsys.readouterr()
    assert main(["compare", str(path), "--between", "env=current,old"]) in (0, 1)
    assert "[env=old]" in capsys.readouterr().out


@pytest.mark.timeout(60)
def test_a_cached_environment_is_reused(tmp_path):
    """The second use of the same pins installs nothing: the cache folder is ready."""
    env = CustomEnv(tuple(OLD))
    folder = tmp_path / environments.env_key(env)
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").write_text("")
    (folder / environments.READY).write_text("[]")
    log = tmp_path / "env.log"
    python = environments.python_for("old", env, log, root=tmp_path)
    assert python == str(folder / "bin" / "python")
    assert not log.exists()  # no venv, no pip


def test_an_interpreter_by_path_is_checked(tmp_path):
    with pytest.raises(environments.EnvError) as exc:
        environments.python_for("mine", CustomEnv(python=str(tmp_path / "nope")), tmp_path / "l")
    assert "is not an executable file" in str(exc.value)
    assert environments.python_for(
        "mine", CustomEnv(python=os.path.realpath("/bin/sh")), tmp_path / "l"
    ) == os.path.realpath("/bin/sh")
