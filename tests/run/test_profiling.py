"""``profile = "cpu"`` end to end: real servers sampled by a real py-spy during the
measured window. The ``cpu`` workload's known hot function (``burn_cpu``) leads its
profile on both consumers and the differential against ``chat``; two Daphne workers are
each profiled; every server kind gives a profile; py-spy missing is one warning and the
measurement is kept."""

import json
from pathlib import Path

import pytest
from helpers import run_matrix

from bench.deploy.servers import SERVERS
from bench.profiles import analysis, stacks

HOT = "burn_cpu (chat/work.py)"
# Enough CPU per message (5 ms) that the work outweighs the server's own per message, and
# the waits py-spy counts as running on a busy machine (a thread runnable, not on a core).
LOAD = """layer = "memory"
work_us = 5000.0
clients = 4
clients_per_room = 1
mode = "closed"
warmup_s = 0.5
duration_s = 2.0
drain_quiet_s = 0.3
"""


def busy(path: Path) -> stacks.Stacks:
    return stacks.split_idle(stacks.parse(path.read_text()))[0]


def point_profile(tmp_path: Path, point: dict) -> stacks.Stacks:
    (rep,) = point["repeats"]
    assert rep["status"] == "ok", rep.get("reason")
    profile = rep["profile"]
    assert profile["error"] is None, profile
    return busy(tmp_path / "results" / profile["point_file"])


@pytest.mark.timeout(240)
def test_the_hot_function_leads_on_both_consumers_and_the_differential(tmp_path):
    code, result = run_matrix(
        tmp_path,
        'consumer = ["sync", "async"]\nworkload = ["chat", "cpu"]\nprofile = "cpu"\n' + LOAD,
    )
    assert code == 0
    profiles = {
        (p["point"]["consumer"], p["point"]["workload"]): point_profile(tmp_path, p)
        for p in result["points"]
    }
    for consumer in ("sync", "async"):
        cpu = profiles[consumer, "cpu"]
        top = analysis.top_frames(cpu, 1)[0]
        assert top.frame == HOT, (consumer, analysis.top_frames(cpu, 5))
        # the sync consumer works in asgiref's executor, the async one in the loop
        where = stacks.EXECUTOR if consumer == "sync" else stacks.LOOP
        part = analysis.by_thread_class(cpu)[where]
        assert analysis.top_frames(part, 1)[0].frame == HOT, consumer
        assert HOT not in {r.frame for r in analysis.frame_times(profiles[consumer, "chat"])}
        first = analysis.differential(profiles[consumer, "chat"], cpu)[0]
        assert first.frame == HOT and first.own_change > 0.2, (consumer, first)
    rep = result["points"][0]["repeats"][0]
    assert rep["profile"]["profiler_cpu_s"] > 0
    (process,) = rep["profile"]["processes"]
    assert (tmp_path / "results" / process["file"]).is_file()


@pytest.mark.timeout(180)
def test_two_daphne_workers_are_each_profiled(tmp_path, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)  # a private Redis: rooms span workers
    load = LOAD.replace("clients = 4", "clients = 8").replace('"memory"', '"redis"')
    code, result = run_matrix(
        tmp_path,
        'consumer = "async"\nworkload = "cpu"\nprofile = "cpu"\nworkers = 2\n'
        "connect_rate = 40.0\n" + load,
    )
    assert code == 0
    (point,) = result["points"]
    (rep,) = point["repeats"]
    assert rep["status"] == "ok", rep.get("reason")
    holders = {p["pid"] for p in rep["server"]["processes"] if p["connections"]}
    assert len(holders) == 2, rep["server"]["processes"]
    profiled = {p["pid"]: p for p in rep["profile"]["processes"]}
    assert holders <= set(profiled)  # the supervisor too, idle or not
    for pid in holders:
        worker = profiled[pid]
        assert worker["error"] is None and worker["samples"] > 0, worker
        frames = {
            r.frame for r in analysis.frame_times(busy(tmp_path / "results" / worker["file"]))
        }
        assert HOT in frames, worker
    merged = busy(tmp_path / "results" / rep["profile"]["point_file"])
    assert merged.total() >= sum(
        busy(tmp_path / "results" / profiled[pid]["file"]).total() for pid in holders
    )


@pytest.mark.timeout(300)
def test_every_server_kind_is_profiled(tmp_path):
    code, result = run_matrix(
        tmp_path,
        f'server = {json.dumps(list(SERVERS))}\nconsumer = "async"\nworkload = "cpu"\n'
        'profile = "cpu"\n' + LOAD.replace("duration_s = 2.0", "duration_s = 1.0"),
    )
    assert code == 0
    for point in result["points"]:
        cpu = point_profile(tmp_path, point)
        assert HOT in {r.frame for r in analysis.frame_times(cpu)}, point["label"]


@pytest.mark.timeout(120)
def test_without_py_spy_the_repeat_is_measured_and_says_why_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHANBENCH_PY_SPY", str(tmp_path / "no-py-spy"))
    code, result = run_matrix(
        tmp_path, 'consumer = "async"\nprofile = "cpu"\n' + LOAD.replace("5000.0", "100.0")
    )
    assert code == 0
    (point,) = result["points"]
    (rep,) = point["repeats"]
    assert rep["status"] == "ok" and rep["counts"]["delivered"] > 0
    assert rep["profile"]["error"].startswith("py-spy not found")
    assert rep["profile"]["processes"] == [] and rep["profile"]["point_file"] is None
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "py-spy not found" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: "), out
    assert not list((tmp_path / "results").glob("*/profiles/*/*.folded"))


@pytest.mark.timeout(180)
def test_memory_runs_each_server_under_memray_and_keeps_its_capture(tmp_path, monkeypatch):
    """profile = memory: Daphne's process, and Gunicorn's forked worker as well as its
    arbiter, each leave a capture file memray reads, with allocations in it; a relative
    --results-dir too (the server runs in another folder)."""
    from memray import FileReader

    from bench.cli import main

    monkeypatch.chdir(tmp_path)
    load = LOAD.replace("5000.0", "100.0").replace("duration_s = 2.0", "duration_s = 1.0")
    (tmp_path / "s.toml").write_text(
        'name = "memory"\n[matrix]\nserver = ["daphne", "gunicorn"]\nconsumer = "async"\n'
        'profile = "memory"\n' + load
    )
    code = main(["run", "s.toml", "--results-dir", "results", "--no-calibrate", "--no-report"])
    assert code == 0
    (file,) = (tmp_path / "results").glob("*.json")
    result = json.loads(file.read_text())
    for point in result["points"]:
        (rep,) = point["repeats"]
        assert rep["status"] == "ok" and rep["counts"]["delivered"] > 0
        profile = rep["profile"]
        assert profile["kind"] == "memory" and profile["error"] is None, profile
        processes = profile["processes"]
        assert len(processes) == (2 if point["point"]["server"] == "gunicorn" else 1)
        for process in processes:
            reader = FileReader(tmp_path / "results" / process["file"])
            assert reader.metadata.pid == process["pid"]
            assert reader.metadata.total_allocations > 0
