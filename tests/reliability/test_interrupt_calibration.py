"""Issue 17, section 4: Ctrl-C while the load generator is calibrated, before any point
is measured, says so: exit 130, no claim that points were saved, no result path printed,
no result file left (a calibration alone is no result: ``report`` could not read it), no
traceback, and nothing left running."""

from __future__ import annotations

import os
import signal
import time

import pytest

from .conftest import result_files, scenario_text


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("which", "after_s"),
    [("first", 0.0), ("first", 0.8), ("second", 0.8)],
    ids=["first-as-clients-start", "first-measuring", "second-measuring"],
)
def test_ctrl_c_during_calibration(chanbench, which: str, after_s: float) -> None:
    # Two numbers of clients: two shapes of load, calibrated one after the other; the
    # first calibration is already on disk when the second is interrupted.
    proc = chanbench(scenario_text(clients=[4, 6], duration_s=2.0), calibrate=True)
    watcher = proc.watcher
    first = watcher.wait_for("reference", 60)
    target = first if which == "first" else watcher.wait_for("reference", 60, {first.pid})
    # As its client process starts (importing: no traceback of its own), or once it is
    # measuring.
    watcher.wait_for("client", 60)
    time.sleep(after_s)
    assert target.state != "Z" and not watcher.current("daphne"), proc.output()
    os.killpg(proc.popen.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    code = proc.wait(60)
    output = proc.output()
    assert code == 130, output
    assert "Traceback" not in output
    assert "saved" not in output.split("interrupted", 1)[-1], output
    assert "result:" not in output and "report:" not in output, output
    assert not result_files(proc.results_dir), output
    assert target.kind == "reference"
    assert not watcher.left_alive(), output
