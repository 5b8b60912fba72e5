"""The progress display, and the delivery rate over time that the report's timeline draws.

On a terminal, while the points run, a rich display holds two bars: the whole run
(points and repeats done, elapsed, time left) and the repeat under way (its phases'
elapsed share, send and delivery rates, the recent p99); each finished repeat prints its
line above them. Off a terminal (piped output, CI logs) one plain line per repeat, as
before: no control characters in a log. Calibration, before the points, keeps the plain
live line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from bench.loadgen.link import WorkerProgress
from bench.results.model import Repeat

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

# Rates are worked out over at least this long, so the line does not flicker.
MIN_INTERVAL_S = 0.4
# The workers report twice a second: a faster redraw would only cost the runner's CPU,
# which the server under test shares.
REFRESH_PER_S = 2.0
# Off a terminal (a CI log), a repeat says what it is doing at least this often: a log
# that waits on clients connecting, or on a long window, must not look hung.
HEARTBEAT_S = 10.0


class Heartbeat:
    """Off a terminal, while a repeat runs: a line every ``every_s`` with its label, what
    it is doing (``doing``, set by the runner) and for how long. On a terminal, nothing:
    the live line or the bars say it."""

    def __init__(self, out: TextIO, label: str, every_s: float = HEARTBEAT_S) -> None:
        self.out = out
        self.label = label
        self.every_s = every_s
        self.doing = "starting"
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if not self.out.isatty():
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            elapsed_s = time.monotonic() - self.started
            self.out.write(f"  {self.label:<40} {self.doing} ({elapsed_s:.0f} s so far)\n")
            self.out.flush()


class RunDisplay:
    """The whole run on a terminal: ``repeats`` holds each point's repeats, by label."""

    def __init__(self, out: TextIO, repeats: Mapping[str, int]) -> None:
        self.out = out
        self.needed = dict(repeats)
        self.done: dict[str, int] = dict.fromkeys(self.needed, 0)
        self.started = self.last_done = time.monotonic()
        self.bars: RichProgress | None = None
        self._run_task: TaskID | None = None
        self._repeat_task: TaskID | None = None

    def __enter__(self) -> RunDisplay:
        if not self.out.isatty() or not self.needed:
            return self
        # Imported here, on a terminal only: rich costs every chanbench command 75 ms.
        from rich.console import Console
        from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        console = Console(file=self.out)
        # A terminal that cannot move the cursor (TERM=dumb: Emacs' shell, some CI
        # runners) gets the plain lines.
        if not console.is_dumb_terminal:
            self.bars = RichProgress(
                TextColumn("  {task.description:<40}"),
                BarColumn(bar_width=20),
                TextColumn("{task.fields[info]:<56}"),
                TimeElapsedColumn(),
                console=console,
                refresh_per_second=REFRESH_PER_S,
            )
            self.bars.start()
            self._run_task = self.bars.add_task("run", total=self.total, info=self._run_info())
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bars is not None:
            self.bars.stop()
            self.bars = None

    @property
    def total(self) -> int:
        return sum(self.needed.values())

    def _run_info(self) -> str:
        points_done = sum(self.done[k] >= n for k, n in self.needed.items())
        repeats_done = sum(self.done.values())
        info = f"points {points_done}/{len(self.needed)}  repeats {repeats_done}/{self.total}"
        if repeats_done and repeats_done < self.total:
            # The repeats so far, on average, for each one left; counting down during one.
            each_s = (self.last_done - self.started) / repeats_done
            since_s = time.monotonic() - self.last_done
            left_s = max(0.0, each_s * (self.total - repeats_done) - since_s)
            info += f"  about {_clock(left_s)} left"
        return info

    def skip(self, label: str) -> None:
        """A point the saturation search will not measure: out of the totals."""
        self.needed.pop(label, None)
        self.done.pop(label, None)
        self._refresh_run()

    def repeat_started(self, label: str, total_s: float) -> None:
        if self.bars is None:
            return
        if self._repeat_task is not None:
            self.bars.remove_task(self._repeat_task)
        self._repeat_task = self.bars.add_task(label, total=total_s or 1.0, info="connecting")

    def repeat_update(self, elapsed_s: float, info: str) -> None:
        if self.bars is not None and self._repeat_task is not None:
            self.bars.update(self._repeat_task, completed=elapsed_s, info=info)
            self._refresh_run()  # the time left counts down

    def repeat_done(self, label: str, line: str) -> None:
        """A repeat's line (its summary, or FAILED and why); the run bar moves on."""
        if label in self.done:
            self.done[label] += 1
        self.last_done = time.monotonic()
        if self.bars is None:
            self.out.write(f"  {label:<40} {line}\n")
            self.out.flush()
            return
        if self._repeat_task is not None:
            self.bars.remove_task(self._repeat_task)
            self._repeat_task = None
        self.bars.console.print(f"  {label:<40} {line}", markup=False, highlight=False)
        self._refresh_run()

    def _refresh_run(self) -> None:
        if self.bars is not None and self._run_task is not None:
            done = sum(self.done.values())
            self.bars.update(self._run_task, total=self.total, completed=done)
            self.bars.update(self._run_task, info=self._run_info())


def _clock(seconds: float) -> str:
    minutes, s = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{s:02d}" if hours else f"{minutes}:{s:02d}"


class Progress:
    """One repeat: elapsed share of the phases, send and delivery rates, the recent p99.

    Drawn in ``display``'s bars when it has them, else as today's live line on a
    terminal (calibration), else not at all until ``done``."""

    def __init__(
        self,
        out: TextIO,
        label: str,
        total_s: float,
        t0_ns: int,
        workers: int,
        display: RunDisplay | None = None,
    ) -> None:
        self.out = out
        self.label = label
        self.total_s = total_s
        self.t0_ns = t0_ns
        self.workers = workers
        self.display = display if display is not None and display.bars is not None else None
        self.last: dict[int, WorkerProgress] = {}
        self.prev: tuple[float, int, int] | None = None
        self.series: dict[str, list[float]] = {"t_s": [], "delivered_per_s": [], "sent_per_s": []}
        self.tty = out.isatty()
        # What the repeat is doing, for a heartbeat line off a terminal.
        self.status = f"0 of {total_s:g} s"
        if self.display is not None:
            self.display.repeat_started(label, total_s)

    def update(self, worker: int, value: WorkerProgress) -> None:
        """A worker's counters; once every worker has reported, a point of the series."""
        self.last[worker] = value
        if len(self.last) < self.workers:
            return
        now = time.monotonic()
        sent = sum(v.sent for v in self.last.values())
        received = sum(v.received for v in self.last.values())
        if self.prev is None:
            self.prev = (now, sent, received)
            return
        dt = now - self.prev[0]
        if dt < MIN_INTERVAL_S:
            return
        sent_rate, recv_rate = (sent - self.prev[1]) / dt, (received - self.prev[2]) / dt
        elapsed = (time.monotonic_ns() - self.t0_ns) / 1e9
        self.series["t_s"].append(round(elapsed, 2))
        self.series["sent_per_s"].append(round(sent_rate, 1))
        self.series["delivered_per_s"].append(round(recv_rate, 1))
        p99s = [v.p99_ms for v in self.last.values() if v.p99_ms is not None]
        p99 = f"{max(p99s):8.1f} ms" if p99s else "       - ms"
        rates = f"sent {sent_rate:8,.0f}/s  delivered {recv_rate:9,.0f}/s  p99 {p99}"
        self.status = f"{min(elapsed, self.total_s):.0f} of {self.total_s:g} s: {rates}"
        if self.tty:
            share = max(0.0, min(1.0, elapsed / self.total_s)) if self.total_s else 1.0
            if self.display is not None:
                self.display.repeat_update(share * self.total_s, rates)
            else:
                bar = "#" * int(share * 20)
                self.out.write(f"\r  {self.label:<40} [{bar:<20}] {share:4.0%}  {rates}")
                self.out.flush()
        self.prev = (now, sent, received)

    def done(self, line: str) -> None:
        if self.display is not None:
            self.display.repeat_done(self.label, line)
            return
        if self.tty:
            self.out.write("\r\033[K")
        self.out.write(f"  {self.label:<40} {line}\n")
        self.out.flush()


def summary_line(record: Repeat) -> str:
    """A repeat in one line: throughput, latency, loss, threads, share of the ceiling."""
    assert record.throughput is not None
    lat = record.latency_ms
    p50 = f"{lat['p50']:.1f}" if lat.get("p50") is not None else "-"
    p99 = f"{lat['p99']:.1f}" if lat.get("p99") is not None else "-"
    threads = record.server.threads_max if record.server else None
    fraction = record.ceiling_fraction
    return (
        f"{record.throughput.delivered_per_s:9,.0f} deliveries/s  p50 {p50:>7} ms  "
        f"p99 {p99:>7} ms  lost {record.loss_ratio or 0:.2%}"
        + (f"  threads {threads}" if threads is not None else "")
        + (f"  {fraction:.0%} of the client's ceiling" if fraction is not None else "")
    )
