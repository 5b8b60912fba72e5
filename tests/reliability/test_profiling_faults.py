"""A profiled run (``profile = "cpu"``) under the faults of test_faults_during_run: the
server killed while py-spy samples it, Ctrl-C while py-spy samples. py-spy runs in a
session of its own (Ctrl-C at a terminal does not reach it): chanbench stops it by PID,
and no py-spy is left running."""

from __future__ import annotations

import os
import signal
import time

import pytest

from .conftest import ChanbenchProcess, Proc, is_alive, kill_proc, scenario_text
from .test_faults_during_run import (
    PHASE_TIMEOUT_S,
    assert_nothing_left,
    finished_result,
    first_daphne,
)

PROFILED = scenario_text(duration_s=3.0, profile="cpu")


def sampling(run: ChanbenchProcess) -> Proc:
    """A py-spy the run started, once it samples (the first point's window is open)."""
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while time.monotonic() < deadline:
        assert run.popen.poll() is None, f"the run ended first: {run.output()}"
        for proc in run.watcher.seen.values():
            if "py-spy record" in proc.cmdline and is_alive(proc):
                time.sleep(0.3)  # attached and sampling
                return proc
        time.sleep(0.02)
    raise AssertionError(f"no py-spy within {PHASE_TIMEOUT_S:g} s: {run.output()}")


def py_spies(run: ChanbenchProcess) -> list[Proc]:
    return [p for p in run.watcher.seen.values() if "py-spy record" in p.cmdline]


@pytest.mark.timeout(120)
def test_server_killed_while_profiled(chanbench):
    run = chanbench(PROFILED)
    daphne = first_daphne(run)
    sampling(run)
    kill_proc(daphne)
    code, result = finished_result(run)
    assert code == 3, run.output()
    first, second = result["points"]
    assert f"(pid {daphne.pid}) was killed by SIGKILL" in first["repeats"][0]["reason"]
    assert second["repeats"][0]["status"] == "ok"
    assert second["repeats"][0]["profile"]["processes"][0]["samples"] > 0
    assert len(py_spies(run)) == 2  # one per point's server
    assert_nothing_left(run)


@pytest.mark.timeout(120)
def test_ctrl_c_while_profiled_stops_py_spy(chanbench):
    run = chanbench(PROFILED)
    spy = sampling(run)
    os.killpg(run.popen.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    assert run.wait(60) == 130, run.output()
    assert not is_alive(spy) or spy.state == "Z"
    assert_nothing_left(run)
