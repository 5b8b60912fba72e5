"""Server kinds refused before anything starts, and a worker that dies mid-point."""

from __future__ import annotations

import importlib.util

import pytest
from helpers import one_error_line

from bench.cli import main

from .conftest import result_files, scenario_text, write_scenario
from .test_faults_during_run import assert_nothing_left, finished_result, kill_during_first_point


def test_several_workers_on_the_memory_layer_is_refused(tmp_path, capsys, nothing_started):
    path = write_scenario(tmp_path, scenario_text(workers=2))
    results = tmp_path / "results"
    assert main(["run", str(path), "--results-dir", str(results)]) == 2
    err = one_error_line(capsys)
    assert "workers = 2 with layer = 'memory'" in err and 'layer = "redis"' in err
    assert not result_files(results)


def test_a_server_whose_package_is_missing_is_refused(
    tmp_path, capsys, monkeypatch, nothing_started
):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "granian" else real(name, *a),
    )
    path = write_scenario(tmp_path, scenario_text(server="granian"))
    assert main(["run", str(path), "--results-dir", str(tmp_path / "results")]) == 2
    err = one_error_line(capsys)
    assert "server = 'granian' needs granian, which this Python lacks" in err
    assert "pip install 'granian>=2.0'" in err


@pytest.mark.timeout(150)
def test_a_daphne_worker_killed_mid_point(chanbench, monkeypatch):
    """One of two Daphne workers is killed: the point fails with the reason (the worker,
    its signal), the next point runs, nothing is left behind."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    run = chanbench(scenario_text(workers=2, layer="redis", duration_s=2.5))
    kill_during_first_point(run, "daphne worker")
    code, result = finished_result(run, 120)
    assert code == 3, run.output()
    first, second = result["points"]
    reason = first["repeats"][0]["reason"]
    assert first["repeats"][0]["status"] == "failed"
    assert "exited" in reason and "worker pid" in reason and "-9" in reason, reason
    assert second["repeats"][0]["status"] == "ok"
    assert_nothing_left(run)
