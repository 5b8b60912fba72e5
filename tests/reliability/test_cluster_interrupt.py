"""Ctrl-C during a repeat on ``--cluster local:2``: exit 130 as on local processes, no
traceback (the Dask worker processes were born with SIGINT blocked, so the terminal's
Ctrl-C reaches chanbench alone), what was measured kept, and nothing left running: the
LocalCluster and its worker processes are stopped by chanbench."""

from __future__ import annotations

import os
import signal
import time

import pytest

from .conftest import scenario_text


@pytest.mark.timeout(180)
def test_ctrl_c_during_a_cluster_repeat(chanbench) -> None:
    proc = chanbench(scenario_text(duration_s=3.0), "--cluster", "local:2")
    watcher = proc.watcher
    watcher.wait_for("daphne", 90)  # the cluster is up and placing the clients
    time.sleep(2.0)
    os.killpg(proc.popen.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    code = proc.wait(60)
    output = proc.output()
    assert code == 130, output
    assert "Traceback" not in output, output
    assert not watcher.left_alive(), output
