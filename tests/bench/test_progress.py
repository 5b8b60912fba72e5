"""The progress display: rich bars on a terminal, today's plain lines off one."""

import io
import re
import time

from bench.loadgen.link import WorkerProgress
from bench.run import progress as progress_module
from bench.run.progress import Progress, RunDisplay


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def plain(text: str) -> str:
    """What a terminal shows, without its control sequences."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", text)


def test_off_a_terminal_each_repeat_is_one_plain_line():
    out = io.StringIO()
    with RunDisplay(out, {"clients=10": 2}) as display:
        progress = Progress(out, "clients=10", 1.0, time.monotonic_ns(), 1, display)
        progress.update(0, WorkerProgress(sent=0, received=0))
        progress.done("900 deliveries/s")
        display.repeat_done("clients=10", "FAILED: the server died")
    assert out.getvalue() == (
        f"  {'clients=10':<40} 900 deliveries/s\n  {'clients=10':<40} FAILED: the server died\n"
    )


def test_on_a_terminal_the_run_bar_counts_points_repeats_and_time_left(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    out = Terminal()
    with RunDisplay(out, {"a": 2, "b": 1, "c": 1}) as display:
        display.skip("c")  # the saturation search will not measure it
        for label in ("a", "b"):
            progress = Progress(out, label, 2.0, time.monotonic_ns(), 1, display)
            progress.done("900 deliveries/s")
        info = display._run_info()
    assert info.startswith("points 1/2  repeats 2/3  about ")
    assert info.endswith(" left")
    shown = plain(out.getvalue())
    assert f"  {'a':<40} 900 deliveries/s" in shown
    assert f"  {'b':<40} 900 deliveries/s" in shown
    assert "points 1/2  repeats 2/3" in shown


def test_on_a_terminal_a_repeat_shows_its_rates_and_keeps_its_series(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(progress_module, "MIN_INTERVAL_S", 0.01)
    out = Terminal()
    with RunDisplay(out, {"a": 1}) as display:
        progress = Progress(out, "a", 10.0, time.monotonic_ns(), 2, display)
        progress.update(0, WorkerProgress(sent=0, received=0))
        progress.update(1, WorkerProgress(sent=0, received=0))
        time.sleep(0.02)
        progress.update(0, WorkerProgress(sent=100, received=1_000, p99_ms=12.5))
        assert display.bars is not None
        (repeat,) = [t for t in display.bars.tasks if t.description == "a"]
        info = repeat.fields["info"]
    assert re.search(r"sent +[\d,]+/s  delivered +[\d,]+/s  p99 +12\.5 ms", info)
    assert progress.series["t_s"] and progress.series["delivered_per_s"][0] > 0
    assert display.bars is None  # stopped when the run ends


def test_a_dumb_terminal_gets_the_plain_lines(monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    out = Terminal()
    with RunDisplay(out, {"a": 1}) as display:
        assert display.bars is None
        display.repeat_done("a", "FAILED: the server died")
    assert out.getvalue() == f"  {'a':<40} FAILED: the server died\n"


def test_off_a_terminal_a_quiet_repeat_says_what_it_is_doing():
    """A CI log is never silent for long: while clients connect or a window runs, a line
    every ``every_s`` names the repeat and what it is doing; nothing once it has stopped."""
    out = io.StringIO()
    with progress_module.Heartbeat(out, "async clients=100", every_s=0.05) as beat:
        beat.doing = "connecting 100 clients"
        time.sleep(0.3)
        beat.stop()
        said = out.getvalue()
        time.sleep(0.15)
    assert out.getvalue() == said
    lines = said.splitlines()
    assert len(lines) >= 2, said
    assert all("async clients=100" in line and "connecting 100 clients" in line for line in lines)


def test_on_a_terminal_the_heartbeat_is_silent():
    out = Terminal()
    with progress_module.Heartbeat(out, "sync", every_s=0.01):
        time.sleep(0.1)
    assert out.getvalue() == ""


def test_the_heartbeat_tells_how_far_the_window_is():
    out = io.StringIO()
    progress = Progress(out, "sync", 5.0, time.monotonic_ns(), 1)
    assert progress.status.startswith("0 of 5 s")
    progress.update(0, WorkerProgress(sent=0, received=0))
    time.sleep(progress_module.MIN_INTERVAL_S)
    progress.update(0, WorkerProgress(sent=40, received=400))
    assert re.match(r"\d of 5 s: sent .*/s  delivered .*/s", progress.status), progress.status
