"""Case 3: a process dies mid-point, or the run is interrupted.

``chanbench run`` runs in a subprocess of its own process group, as from a terminal; the
test finds the process to kill under it in /proc, by PID, while the first point measures.
A dead server, client or Redis fails that point with the reason, the later points still
run, the result file is written and the exit code is 3. Ctrl-C and SIGTERM keep the
finished points (``partial: true``), exit 130 and leave no process behind.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from .conftest import ChanbenchProcess, kill_proc, result_files, scenario_text

# Long enough a window that a kill lands inside the first point's measured phase.
KILLABLE = scenario_text(duration_s=2.5)


def wait_first_point_connected(run: ChanbenchProcess, clients: int = 4) -> None:
    """Until Daphne's log for the first point shows every client's handshake."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for log in run.results_dir.glob("*/logs/sync-r0.log"):
            lines = log.read_text(errors="replace").splitlines()
            if sum("WSCONNECT /ws/sync/chat/" in line for line in lines) >= clients:
                return
        assert run.popen.poll() is None, run.output()
        time.sleep(0.02)
    raise AssertionError(f"the first point's clients did not connect: {run.output()}")


def kill_during_first_point(run: ChanbenchProcess, kind: str) -> int:
    """SIGKILL the first ``kind`` process during the first point's measured phase."""
    wait_first_point_connected(run)
    time.sleep(1.0)  # start delay 0.3 s, warm-up 0.3 s: measuring until about 3 s
    (victim,) = run.watcher.current(kind)[:1]
    kill_proc(victim)
    return victim.pid


def finished_result(run: ChanbenchProcess, timeout_s: float = 90) -> tuple[int, dict]:
    code = run.wait(timeout_s)
    (path,) = result_files(run.results_dir)
    return code, json.loads(path.read_text())


def assert_nothing_left(run: ChanbenchProcess) -> None:
    left = run.watcher.left_alive()
    assert not left, f"left running: {[(p.pid, p.kind, p.cmdline[:60]) for p in left]}"
    kinds = {p.kind for p in run.watcher.seen.values()}
    assert {"daphne", "client"} <= kinds  # the watcher did see the tree


@pytest.mark.timeout(120)
def test_server_killed_mid_point(chanbench):
    run = chanbench(KILLABLE)
    pid = kill_during_first_point(run, "daphne")
    code, result = finished_result(run)
    assert code == 3, run.output()
    first, second = result["points"]
    assert first["repeats"][0]["status"] == "failed"
    reason = first["repeats"][0]["reason"]
    assert f"daphne (pid {pid}) was killed by SIGKILL during the point" in reason
    assert second["repeats"][0]["status"] == "ok"
    assert result["partial"] is False
    assert_nothing_left(run)


@pytest.mark.timeout(120)
def test_client_process_killed_mid_point(chanbench):
    run = chanbench(KILLABLE)
    pid = kill_during_first_point(run, "client")
    code, result = finished_result(run)
    assert code == 3, run.output()
    first, second = result["points"]
    assert first["repeats"][0]["status"] == "failed"
    assert f"client process 0: pid {pid} was killed by SIGKILL" in first["repeats"][0]["reason"]
    assert second["repeats"][0]["status"] == "ok"
    assert_nothing_left(run)


@pytest.mark.timeout(120)
def test_private_redis_killed_mid_point(chanbench, monkeypatch):
    """The run's private Redis dies: the point it served fails, and so do the later ones
    (quickly, with the reason): the runner does not restart a Redis."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    run = chanbench(scenario_text(layer="redis", duration_s=2.5))
    kill_during_first_point(run, "redis")
    code, result = finished_result(run)
    assert code == 3, run.output()
    first, second = result["points"]
    assert first["repeats"][0]["status"] == "failed"
    assert "stopped answering during the point" in first["repeats"][0]["reason"]
    assert second["repeats"][0]["status"] == "failed"
    assert "does not answer" in second["repeats"][0]["reason"]
    assert result["partial"] is False
    assert_nothing_left(run)


def interrupt_during_second_point(run: ChanbenchProcess, deliver: str) -> None:
    deadline = time.monotonic() + 60
    while run.points_written() < 1:
        assert time.monotonic() < deadline, run.output()
        assert run.popen.poll() is None, run.output()
        time.sleep(0.05)
    first_daphne = min(
        (p for p in run.watcher.seen.values() if p.kind == "daphne"), key=lambda p: p.start_ticks
    )
    run.watcher.wait_for("daphne", 30, exclude={first_daphne.pid})
    run.watcher.wait_for("client", 30)
    time.sleep(0.8)
    if deliver == "ctrl-c":
        os.killpg(run.popen.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    else:
        run.popen.send_signal(signal.SIGTERM)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("deliver", "layer"), [("ctrl-c", "memory"), ("sigterm", "redis")])
def test_interrupt_keeps_finished_points_and_leaves_nothing(chanbench, monkeypatch, deliver, layer):
    monkeypatch.delenv("REDIS_URL", raising=False)
    run = chanbench(scenario_text(layer=layer, duration_s=2.5))
    interrupt_during_second_point(run, deliver)
    code, result = finished_result(run, 60)
    assert code == 130, run.output()
    assert result["partial"] is True
    assert [p["params"]["consumer"] for p in result["points"]] == ["sync"]
    assert result["points"][0]["repeats"][0]["status"] == "ok"
    assert "interrupted" in run.output()
    assert_nothing_left(run)
    if layer == "redis":
        assert any(p.kind == "redis" for p in run.watcher.seen.values())
