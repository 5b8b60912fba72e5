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
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect
from websockets.typing import Origin

from bench.deploy.site import origin, ws_url
from bench.protocols import MEASURED, read_token
from bench.protocols.chat import Chat

from .conftest import ChanbenchProcess, Proc, is_alive, kill_proc, result_files, scenario_text

HOST = "127.0.0.1"
# Long enough a window that a kill lands inside the first point's measured phase.
KILLABLE = scenario_text(duration_s=2.5)
# Bounded waits for a phase: generous for a loaded 2-core machine.
PHASE_TIMEOUT_S = 60.0


def daphne_port(daphne: Proc) -> int:
    """The port a Daphne of the run listens on, from its command line (``-p PORT``, or
    the supervisor's ``--port PORT`` when there are several workers)."""
    argv = daphne.cmdline.split()
    flag = "-p" if "-p" in argv else "--port"
    return int(argv[argv.index(flag) + 1])


def wait_measuring(run: ChanbenchProcess, daphne: Proc, consumer: str) -> None:
    """Until the point that ``daphne`` serves is in its measured phase, provably: a
    listener in room 0 on that server receives a message its clients marked measured.

    The listener never sends, so the clients' books are unchanged, and it has left the
    room when this returns. Fails, with the run's output, if the run or that Daphne
    ends first, or after ``PHASE_TIMEOUT_S``."""
    port = daphne_port(daphne)
    url = ws_url(HOST, port, consumer, "0")
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    last = "no attempt"
    while time.monotonic() < deadline:
        assert run.popen.poll() is None, f"the run ended first: {run.output()}"
        assert is_alive(daphne), f"daphne {daphne.pid} ended first: {run.output()}"
        try:
            with connect(
                url,
                origin=Origin(origin(HOST, port)),
                open_timeout=2,
                close_timeout=1,
                compression=None,
            ) as listener:
                while time.monotonic() < deadline:
                    frame = listener.recv(max(0.01, min(1.0, deadline - time.monotonic())))
                    token = read_token(Chat().token(frame) or "")
                    if token.phase == MEASURED:
                        return
                    assert run.popen.poll() is None, f"the run ended first: {run.output()}"
        except TimeoutError:
            last = "no message for 1 s"
        except (OSError, InvalidHandshake, ConnectionClosed) as exc:
            last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)
    raise AssertionError(
        f"no measured message on {url} within {PHASE_TIMEOUT_S:g} s ({last}): {run.output()}"
    )


def first_daphne(run: ChanbenchProcess) -> Proc:
    """The run's first Daphne (the first point's: the run does not calibrate)."""
    return run.watcher.wait_for("daphne", PHASE_TIMEOUT_S)


def kill_during_first_point(run: ChanbenchProcess, kind: str) -> int:
    """SIGKILL the first ``kind`` process during the first point's measured phase."""
    wait_measuring(run, first_daphne(run), "sync")
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
    """Ctrl-C or SIGTERM during the second point's measured phase, once the result file
    holds the first point."""
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while run.points_written() < 1:
        assert time.monotonic() < deadline, f"no point written: {run.output()}"
        assert run.popen.poll() is None, run.output()
        time.sleep(0.05)
    first = min(
        (p for p in run.watcher.seen.values() if p.kind == "daphne"), key=lambda p: p.start_ticks
    )
    second = run.watcher.wait_for("daphne", PHASE_TIMEOUT_S, exclude={first.pid})
    wait_measuring(run, second, "async")
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
    assert [p["point"]["consumer"] for p in result["points"]] == ["sync"]
    assert result["points"][0]["repeats"][0]["status"] == "ok"
    assert "interrupted" in run.output()
    assert_nothing_left(run)
    if layer == "redis":
        assert any(p.kind == "redis" for p in run.watcher.seen.values())
