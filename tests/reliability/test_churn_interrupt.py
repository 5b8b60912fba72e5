"""Ctrl-C during churn keeps the cycles measured so far and their verdicts, and leaves
no process behind (bench/run/churn.py)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from .conftest import result_files, scenario_text

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


@pytest.mark.timeout(180)
def test_ctrl_c_during_churn_keeps_the_cycles_and_their_verdict(chanbench):
    run = chanbench(CHURN)
    # Each cycle starts its own client process: the fourth one seen means three ended.
    deadline = time.monotonic() + WAIT_S
    while len({p.pid for p in run.watcher.seen.values() if p.kind == "client"}) <= (
        CYCLES_BEFORE_CTRL_C
    ):
        assert time.monotonic() < deadline, run.output()
        assert run.popen.poll() is None, run.output()
        time.sleep(0.05)
    os.killpg(run.popen.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    code = run.wait(60)
    assert code == 130, run.output()
    (path,) = result_files(run.results_dir)
    result = json.loads(path.read_text())
    assert result["partial"] is True
    (rep,) = result["points"][0]["repeats"]
    assert rep["interrupted"] is True
    cycles = rep["churn"]["cycles"]
    assert CYCLES_BEFORE_CTRL_C <= len(cycles) < 50
    fds = [v for v in rep["churn"]["verdicts"] if v["metric"] == "open_fds"]
    assert fds and fds[0]["verdict"] in ("leak", "inconclusive")
    assert "interrupted" in run.output()
    left = run.watcher.left_alive()
    assert not left, [(p.pid, p.kind) for p in left]
