"""Ctrl-C during churn keeps the cycles measured so far and their verdicts, a server
that dies fails the repeat but keeps the cycles before it, and no process is left
behind (bench/run/churn.py)."""

from __future__ import annotations

import json
import time

import pytest

from .conftest import (
    ChanbenchProcess,
    ctrl_c_keeps_the_repeat,
    kill_proc,
    result_files,
    scenario_text,
)

# Far more cycles than the test waits for: it is interrupted, never finished.
CHURN = scenario_text(
    consumer="async",
    fault="fd_leak",
    clients=2,
    rooms=1,
    warmup_s=0,
    duration_s=0.3,
    messages=2,
    cycles=50,
    warmup_cycles=1,
    settle_s=0.3,
)
CYCLES_BEFORE_CTRL_C = 3
WAIT_S = 90.0


def wait_for_cycles(run: ChanbenchProcess) -> None:
    """Until ``CYCLES_BEFORE_CTRL_C`` cycles ended: each cycle starts its own client
    process, so one more than that seen means they did."""
    deadline = time.monotonic() + WAIT_S
    while len({p.pid for p in run.watcher.seen.values() if p.kind == "client"}) <= (
        CYCLES_BEFORE_CTRL_C
    ):
        assert time.monotonic() < deadline, run.output()
        assert run.popen.poll() is None, run.output()
        time.sleep(0.05)


@pytest.mark.timeout(180)
def test_ctrl_c_during_churn_keeps_the_cycles_and_their_verdict(chanbench):
    run = chanbench(CHURN)
    wait_for_cycles(run)
    rep = ctrl_c_keeps_the_repeat(run)
    cycles = rep["churn"]["cycles"]
    assert CYCLES_BEFORE_CTRL_C <= len(cycles) < 50
    fds = [v for v in rep["churn"]["verdicts"] if v["metric"] == "open_fds"]
    assert fds and fds[0]["verdict"] in ("leak", "inconclusive")
    assert "interrupted" in run.output()
    left = run.watcher.left_alive()
    assert not left, [(p.pid, p.kind) for p in left]


@pytest.mark.timeout(180)
def test_a_server_that_dies_during_churn_fails_the_repeat_and_keeps_its_cycles(chanbench):
    run = chanbench(CHURN)
    wait_for_cycles(run)
    (daphne,) = [p for p in run.watcher.seen.values() if p.kind == "daphne"]
    kill_proc(daphne)
    code = run.wait(60)
    assert code == 3, run.output()  # a point failed
    (path,) = result_files(run.results_dir)
    (rep,) = json.loads(path.read_text())["points"][0]["repeats"]
    assert rep["status"] == "failed"
    assert "was killed by SIGKILL" in rep["reason"]
    assert len(rep["churn"]["cycles"]) >= CYCLES_BEFORE_CTRL_C - 1
    left = run.watcher.left_alive()
    assert not left, [(p.pid, p.kind) for p in left]
