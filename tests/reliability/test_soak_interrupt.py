"""Ctrl-C during a soak keeps the samples read so far, their verdicts and the clients'
books, and leaves no process behind (bench/run/soak.py)."""

from __future__ import annotations

import time

import pytest

from .conftest import ChanbenchProcess, ctrl_c_keeps_the_repeat, scenario_text

SAMPLE_S = 0.5
# Far longer than the test waits: it is interrupted, never finished.
SOAK = scenario_text(
    consumer="async",
    fault="leak",
    clients=4,
    rooms=1,
    mode="open",
    rate=5.0,
    warmup_s=0,
    duration_s=120.0,
    sample_s=SAMPLE_S,
    warmup_cycles=1,
    reconnect_per_s=2.0,
    probe_every=2,
)
SAMPLES_BEFORE_CTRL_C = 4
WAIT_S = 90.0


def wait_for_samples(run: ChanbenchProcess) -> None:
    """Until the soak's client process has run long enough for the samples wanted (it
    starts before its clients connect: a second of margin for that)."""
    deadline = time.monotonic() + WAIT_S
    while not any(p.kind == "client" for p in run.watcher.seen.values()):
        assert time.monotonic() < deadline, run.output()
        assert run.popen.poll() is None, run.output()
        time.sleep(0.05)
    time.sleep(2.0 + SAMPLES_BEFORE_CTRL_C * SAMPLE_S)


@pytest.mark.timeout(180)
def test_ctrl_c_during_a_soak_keeps_the_samples_and_their_verdict(chanbench):
    run = chanbench(SOAK)
    wait_for_samples(run)
    rep = ctrl_c_keeps_the_repeat(run)
    soak = rep["churn"]
    assert soak["kind"] == "soak"
    samples = soak["cycles"]
    assert SAMPLES_BEFORE_CTRL_C <= len(samples) < 120 / SAMPLE_S
    assert [s["index"] for s in samples] == list(range(len(samples)))
    # /proc every sample, the probe (which pauses the server) every second one.
    assert all("rss_bytes" in s["counters"] for s in samples)
    assert [("gc_objects" in s["counters"]) for s in samples[:4]] == [False, True, False, True]
    rss = [v for v in soak["verdicts"] if v["metric"] == "rss_bytes"]
    assert rss and rss[0]["verdict"] in ("leak", "flat", "inconclusive")
    # The clients stopped on the runner's word and sent their books.
    assert rep["counts"]["delivered"] > 0
    assert rep["counts"]["delivered"] <= rep["counts"]["expected"]
    assert "interrupted" in run.output()
    left = run.watcher.left_alive()
    assert not left, [(p.pid, p.kind) for p in left]
