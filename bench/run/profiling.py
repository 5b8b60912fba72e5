"""Profiles of the server during a repeat: its CPU sampled from outside by py-spy for the
measured window, or its memory traced by memray from its start to its stop.

``profile = "cpu"``: when the window opens, one ``py-spy record`` starts per process of
the server's tree (a supervisor and each worker), every thread, collapsed stacks out;
when it closes, each gets SIGINT (by PID) and writes what it sampled. Idle samples (a
thread asleep in the kernel, by py-spy's reading of its state) are left out: the profile
is where the CPU goes, and ``--format raw`` could not tell the two apart. Each
process's stacks are kept per repeat beside the result, and the point's repeats and
processes merged into one file (``stacks.merge``). py-spy missing, a process it cannot
trace, a server that exits: the profile's ``error`` says so in one line and the
measurement is kept. py-spy pauses nothing (``--nonblocking``), but it needs CPU on the
same machine: the record keeps what it used, and ``profile = none,cpu`` measures its
cost (interleaved, see docs/profiling.md).

``profile = "memory"`` runs the server's command under ``memray run`` instead
(``MemoryProfiler``); the runner calls the same methods of either, or of ``NoProfiler``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from bench.deploy.processes import process_tree, start_process, stop_process
from bench.errors import UserError
from bench.profiles import stacks
from bench.results import store
from bench.results.model import Repeat
from bench.results.profile import ProcessProfile, ProfileRecord
from bench.run.churn import settle
from bench.run.memory_profiling import MemoryProfiler
from bench.run.profiler import NoProfiler, command_line
from bench.run.readings import read_stat
from bench.scenario import Point

# Names the py-spy to run; else the one beside this Python (a venv's), else $PATH's.
PY_SPY_ENV = "CHANBENCH_PY_SPY"
MISSING = (
    "py-spy not found: install it with pip install 'chanbench[profile]' (or set "
    f"{PY_SPY_ENV} to its path); the repeat is measured without a profile"
)
# py-spy writes its stacks within a second of SIGINT; SIGKILL after this.
STOP_TIMEOUT_S = 10.0
# py-spy's own bound (--duration, whole seconds) past the window: it ends by itself even
# if chanbench never tells it (we are SIGKILLed, and its parent-death signal is lost).
DURATION_MARGIN_S = 30
# The one-sample check of --server-pid before a run: attaching takes well under 1 s.
CHECK_TIMEOUT_S = 20.0
MERGED = "cpu.folded"
# Room per churn cycle, past its phases and settle, for connecting, hanging up and the
# pool's processes: py-spy's own bound on a churn, never reached by a cycle that works.
CYCLE_ROOM_S = 30.0


def find_py_spy() -> str | None:
    """The py-spy executable: $CHANBENCH_PY_SPY, beside this Python, or on $PATH."""
    given = os.environ.get(PY_SPY_ENV)
    if given is not None:
        return given if shutil.which(given) else None
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if os.access(beside, os.X_OK) else shutil.which("py-spy")


def check_traceable(points: Sequence[Point], server_pid: int | None) -> None:
    """Refuse, before any load, a profile of a ``--target`` that cannot be traced: no
    ``--server-pid``, no py-spy, or a process py-spy may not read (one sample taken)."""
    profiled = next((p.profile for p in points if p.profile != "none"), None)
    if profiled is None:
        return
    if profiled == "memory":
        raise UserError(
            "profile = memory runs the server's command under memray, and a --target's "
            "server is not started by chanbench: use profile=cpu, or run it under memray "
            "yourself"
        )
    if server_pid is None:
        raise UserError(
            f"profile = {profiled} with --target needs --server-pid: give the PID of "
            "the target's server, or set profile=none"
        )
    exe = find_py_spy()
    if exe is None:
        raise UserError(MISSING.split(";")[0])
    argv = [exe, "dump", "--pid", str(server_pid), "--nonblocking"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        why = f"py-spy dump did not answer within {CHECK_TIMEOUT_S:g} s"
    else:
        why = "" if done.returncode == 0 else _error_line(done.stdout + done.stderr)
    if why:
        raise UserError(
            f"--server-pid {server_pid} cannot be profiled: {why}; run chanbench as that "
            "process's user or as root (ptrace), or set profile=none"
        )


def _error_line(text: str) -> str:
    """py-spy's one-line reason (its "Error: ..." line, not the backtrace under it)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("Permission Denied"):  # then py-spy's advice to use sudo
            return "permission denied (ptrace: another user's process, or not allowed)"
        if line.startswith("Error"):
            return line.removeprefix("Error:").strip()
    return lines[-1] if lines else "py-spy said nothing"


@dataclass
class _Recording:
    """One py-spy on one server process."""

    pid: int
    name: str
    part: Path  # py-spy's output, renamed when complete
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    cpu_s: float = 0.0  # py-spy's own CPU, read as the window ends
    signalled: bool = False
    early: bool = False  # py-spy had ended by the window's end


class CpuProfiler(NoProfiler):
    """py-spy on every process of one repeat's server, for the measured window.

    ``edge("start")`` and ``edge("end")`` are called from timer threads at the window's
    edges; ``close`` (the repeat's exit, however it ends) stops what still runs;
    ``finish`` collects the stacks into the repeat's ``ProfileRecord`` and warnings."""

    def __init__(self, point: Point, out_dir: Path, base: Path, repeat: int) -> None:
        self.point, self.out_dir, self.base, self.repeat = point, out_dir, base, repeat
        self.recordings: list[_Recording] = []
        self.error: str | None = None
        self._lock = threading.Lock()
        self._root: int | None = None
        self._go = threading.Event()  # the window opened, or the repeat ended
        self._done = threading.Event()  # the repeat ended: stop and reap
        self._owner = threading.Thread(target=self._own, name="chanbench-py-spy", daemon=True)
        self._edges_s: dict[str, float] = {}  # the window's edges, monotonic

    def __enter__(self) -> Self:
        self._owner.start()
        return self

    def _own(self) -> None:
        """The py-spy processes' parent thread, alive until they are reaped: their
        parent-death signal (``processes.die_with_parent``) fires when the *thread* that
        started them exits, so the window's timer thread cannot start them."""
        self._go.wait()
        if not self._done.is_set():
            self._start(self._root)
        self._done.wait()
        for rec in self.recordings:
            if rec.proc is not None:
                stop_process(rec.proc, STOP_TIMEOUT_S, sig=signal.SIGINT)

    def edge(self, name: str, root: int | None) -> None:
        if name in ("start", "end"):
            self._edges_s[name] = time.monotonic()
        if name == "start":
            self._root = root
            self._go.set()
        elif name == "end":
            self._signal()

    def _start(self, root: int | None) -> None:
        with self._lock:
            exe = find_py_spy()
            pids = process_tree(root) if root is not None else []
            if exe is None or not pids:
                self.error = MISSING if exe is None else "the server exited before its window"
                return
            store.make_dir(self.out_dir)
            duration = int(window_bound_s(self.point)) + DURATION_MARGIN_S
            for pid in pids:
                stem = f"r{self.repeat}-p{pid}"
                rec = _Recording(
                    pid,
                    command_line(pid),
                    self.out_dir / f".{stem}.part",
                    self.out_dir / f"{stem}.log",
                )
                argv = [exe, "record", "--pid", str(pid), "--rate", str(self.point.profile_rate)]
                argv += ["--format", "raw", "--threads", "--function", "--nonblocking"]
                argv += ["--duration", str(duration), "--output", str(rec.part)]
                with rec.log.open("wb") as log:
                    rec.proc = start_process(argv, log=log)
                self.recordings.append(rec)

    def _signal(self) -> None:
        """SIGINT to each py-spy still running: it stops sampling and writes its stacks."""
        with self._lock:
            for rec in self.recordings:
                if rec.proc is None or rec.signalled:
                    continue
                rec.signalled = True
                if rec.proc.poll() is not None:
                    rec.early = True  # its process exited, or py-spy failed
                    continue
                stat = read_stat(rec.proc.pid)
                rec.cpu_s = stat.cpu_s if stat else 0.0
                rec.proc.send_signal(signal.SIGINT)

    def close(self) -> None:
        """Stop and reap every py-spy (SIGINT, then SIGKILL), by PID; start none after."""
        self._done.set()
        self._go.set()
        if self._owner.is_alive():
            self._owner.join()  # bounded: STOP_TIMEOUT_S twice per py-spy at most

    def finish(self, repeat: Repeat) -> None:
        """Each process's stacks kept, the point's merged again, into ``repeat.profile``;
        why any is missing, among its warnings."""
        repeat.profile = self._collected()
        repeat.warnings += self.warnings(repeat.profile)

    def _collected(self) -> ProfileRecord:
        self._signal()
        self.close()
        record = ProfileRecord(
            kind=self.point.profile,
            rate_hz=self.point.profile_rate,
            window_s=self._window_s(),
            profiler_cpu_s=round(sum(r.cpu_s for r in self.recordings), 3),
            error=self.error,
        )
        record.processes = [self._collect(rec) for rec in self.recordings]
        if self.recordings and not record.samples:
            why = "; ".join(dict.fromkeys(p.error for p in record.processes if p.error))
            record.error = f"no samples: {why or 'py-spy recorded nothing'}"
        if record.samples:
            record.point_file = self._merge()
        return record

    def _window_s(self) -> float:
        """The window as it was (a churn's cycles), else as the point sets it."""
        if "start" in self._edges_s and "end" in self._edges_s:
            return round(self._edges_s["end"] - self._edges_s["start"], 3)
        return self.point.duration_s

    def _collect(self, rec: _Recording) -> ProcessProfile:
        out = ProcessProfile(pid=rec.pid, name=rec.name)
        code = rec.proc.returncode if rec.proc is not None else None
        try:
            text = rec.part.read_text()
        except OSError:
            text = ""
        rec.part.unlink(missing_ok=True)
        said = rec.log.read_text(errors="replace") if rec.log.exists() else ""
        if rec.early:
            gone = "the process exited" if read_stat(rec.pid) is None else _error_line(said)
            out.error = f"py-spy on {rec.name} (pid {rec.pid}) ended before the window: {gone}"
        elif code not in (0, None) or (code is None and not text):
            out.error = f"py-spy on {rec.name} (pid {rec.pid}): {_error_line(said)}"
        out.samples = stacks.parse(text).total()
        if out.samples:
            final = rec.part.with_name(f"{rec.part.stem.lstrip('.')}.folded")
            store.write_text(final, text)
            out.file = str(final.relative_to(self.base))
        if out.error is None:
            rec.log.unlink(missing_ok=True)
        return out

    def _merge(self) -> str:
        """The point's merged stacks (every repeat's processes so far), rewritten."""
        files = sorted(self.out_dir.glob("r*-p*.folded"))
        merged = stacks.merge(stacks.parse(f.read_text()) for f in files)
        path = self.out_dir / MERGED
        store.write_text(path, stacks.folded(merged))
        return str(path.relative_to(self.base))

    def warnings(self, record: ProfileRecord) -> list[str]:
        """The repeat's warning lines: the profile missing, or a process without one."""
        if record.error:
            return [f"no CPU profile: {record.error}"]
        return [f"no CPU profile of one process: {p.error}" for p in record.processes if p.error]


def window_bound_s(point: Point) -> float:
    """The longest a window may last: the measured window, or a churn's every cycle (its
    phases, its settle and room to connect) or a staircase's every step, profiled whole."""
    if not point.churn:
        return point.duration_s
    if point.idle_max:  # a staircase: each step connects, settles and holds
        steps = len(point.idle_counts)
        return steps * (settle(point)[0] + point.idle_hold_s + CYCLE_ROOM_S)
    return point.cycles * (point.warmup_s + point.duration_s + settle(point)[0] + CYCLE_ROOM_S)


def profiler_for(
    point: Point, reference: bool, run_dir: Path, base: Path, label: str, repeat: int
) -> NoProfiler:
    """The profiler of one repeat (its files in ``run_dir``/profiles/<point>, their paths
    recorded relative to ``base``, the result's folder), or None: no profile asked, or
    the calibration."""
    if point.profile == "none" or reference:
        return NoProfiler()
    out_dir = run_dir / "profiles" / store.file_stem(label)
    kind = MemoryProfiler if point.profile == "memory" else CpuProfiler
    return kind(point, out_dir, base, repeat)
