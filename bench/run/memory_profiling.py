"""``profile = "memory"``: the server's command run under ``memray run``, and on a churn
point, memray's leak view per cycle (``bench.profiles.survivors``) in the result.

memray cannot attach to a running process, so it wraps the command: every allocation
from the server's start to its stop, one capture file per repeat and process. It follows
the children a server forks (Gunicorn's, Granian's workers); Daphne's workers, which
chanbench's supervisor starts as new programs, are each wrapped instead; workers started
by multiprocessing's spawn (Uvicorn's with workers > 1, Hypercorn's always) cannot be
followed, and such a point is refused before anything starts (``check_memory``).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from bench.deploy.processes import process_tree
from bench.deploy.servers import SERVERS, ServerProcess
from bench.errors import UserError
from bench.profiles import survivors
from bench.results import store
from bench.results.model import Repeat
from bench.results.profile import ProcessProfile, ProfileRecord
from bench.run.profiler import NoProfiler, arguments, command_line
from bench.scenario import Point

# memray's options: pymalloc's allocations too (what Python code allocates), and the
# children the server forks (Gunicorn's workers). Not --aggregate: its file is written
# only at a clean exit, which a server stopped by SIGKILL never reaches, and it keeps no
# time: the leak view per churn cycle needs the allocations' snapshots.
MEMRAY_ARGS = ("-m", "memray", "run", "--trace-python-allocators", "--follow-fork", "-q", "-f")
MEMRAY_MISSING = (
    "memray not importable by the server's Python {python}: install it there (pip "
    "install 'chanbench[profile]'); the repeat is measured without a memory profile"
)
# Importing memray in a fresh interpreter takes well under a second.
CHECK_TIMEOUT_S = 20.0
_HAS_MEMRAY: dict[str, bool] = {}


def has_memray(python: str) -> bool:
    """Whether ``python`` (the server's interpreter: an environment's) imports memray."""
    if python not in _HAS_MEMRAY:
        argv = [python, "-c", "import memray"]
        done = subprocess.run(argv, capture_output=True, timeout=CHECK_TIMEOUT_S)
        _HAS_MEMRAY[python] = done.returncode == 0
    return _HAS_MEMRAY[python]


def check_memory(points: Sequence[Point]) -> None:
    """Refuse, before anything starts, a memory profile memray could not take: a server
    whose workers are spawned interpreters, which ``memray run`` does not follow."""
    for point in points:
        why = SERVERS[point.server].spawned_workers(point) if point.profile == "memory" else None
        if why:
            raise UserError(
                f"profile = memory on {point.server} with workers = {point.workers}: {why}, "
                "which memray run cannot follow; use server=daphne, gunicorn or granian "
                "(or uvicorn with workers=1), or profile=none"
            )


class MemoryProfiler(NoProfiler):
    """The server's command run under ``memray run``: every allocation from its start to
    its stop (not the window alone: memray cannot attach to a running process), into one
    capture file per repeat, for ``memray flamegraph``, ``summary`` or ``table``. On a
    churn point, ``finish`` (after the server exited) adds the lines still holding what
    each cycle allocated. It costs the server far more than py-spy; its points' figures
    are not throughput figures."""

    needs_exit = True

    def __init__(self, point: Point, out_dir: Path, base: Path, repeat: int) -> None:
        self.point, self.out_dir, self.base, self.repeat = point, out_dir, base, repeat
        self.server: ServerProcess | None = None
        self.error: str | None = None
        self.edges_ms: list[float] = []  # a churn's start, then each cycle's read
        self.owners: dict[Path, tuple[int, str]] = {}  # capture file: pid, command

    def launch(self, server: ServerProcess) -> None:
        if not has_memray(server.python):
            self.error = MEMRAY_MISSING.format(python=server.python)
            return
        store.make_dir(self.out_dir)
        # Each of Daphne's workers its own file ({worker}: the supervisor's index).
        name = f"r{self.repeat}.w{{worker}}" if server.wraps_each_worker() else f"r{self.repeat}"
        # Absolute: the server runs in its site's folder, not ours.
        target = (self.out_dir / f"{name}.memray.bin").absolute()
        server.wrap_args = (*MEMRAY_ARGS, "-o", str(target))
        self.server = server

    def edge(self, name: str, root: int | None) -> None:
        if name in ("start", "cycle"):
            self.edges_ms.append(time.time() * 1000)
        if name == "start" and root is not None:
            self.owners = owners(root)

    def finish(self, repeat: Repeat) -> None:
        """The capture files (complete only once the server exited), and on a churn
        point each cycle's survivors by line."""
        profile = ProfileRecord(kind="memory", window_s=self.point.duration_s, error=self.error)
        if self.server is not None and self.server.proc is not None:
            files = captures(self.out_dir, self.repeat)
            profile.processes = [self._process(f) for f in files]
            if repeat.churn is not None and len(self.edges_ms) > 1:
                profile.window_s = round((self.edges_ms[-1] - self.edges_ms[0]) / 1000, 3)
                try:
                    self._survivors(profile, files, repeat.churn.warmup_cycles)
                except KeyboardInterrupt:  # the cycles are kept, and the run stops after
                    profile.survivors_error = "interrupted while reading memray's capture"
                    repeat.interrupted = True
        repeat.profile = profile
        if profile.error:
            repeat.warnings.append(f"no memory profile: {profile.error}")
        elif profile.survivors_error:
            repeat.warnings.append(f"no leak view: {profile.survivors_error}")

    def _process(self, file: Path) -> ProcessProfile:
        pid, name = self.owners.get(file.absolute(), (0, ""))
        if not pid:  # no edge read the tree: the root's file, or a fork's <file>.<pid>
            tail = file.name.rsplit(".", 1)[-1]
            pid = int(tail) if tail.isdigit() else self.server.pid if self.server else 0
            name = command_line(pid)
        return ProcessProfile(pid=pid, name=name, file=str(file.relative_to(self.base)))

    def _survivors(self, profile: ProfileRecord, files: list[Path], warmup_cycles: int) -> None:
        try:
            lines = survivors.read(files, self.edges_ms)
        except ImportError:
            profile.survivors_error = "memray is not importable by chanbench's own Python"
        except Exception as exc:  # an unreadable capture loses the view, not the repeat
            profile.survivors_error = f"{type(exc).__name__}: {exc}"[:200]
        else:
            profile.survivors = survivors.top(lines, warmup_cycles)


def captures(out_dir: Path, repeat: int) -> list[Path]:
    """One repeat's capture files: the server's (or each Daphne worker's), then the
    children each forked (``<file>.<pid>``)."""
    return sorted(
        f for f in out_dir.glob(f"r{repeat}.*") if ".memray.bin" in f.name and f.is_file()
    )


def owners(root: int) -> dict[Path, tuple[int, str]]:
    """Which process of the server's tree writes which capture file, read from their
    command lines (``-o FILE``) while they run: a forked child inherits its parent's
    command line and writes ``FILE.<pid>``."""
    out: dict[Path, tuple[int, str]] = {}
    for pid in process_tree(root):  # parents before their children
        argv = arguments(pid)
        if "-o" not in argv[:-1] or "memray" not in argv:
            continue
        file = Path(argv[argv.index("-o") + 1])
        if file in out:
            file = file.with_name(f"{file.name}.{pid}")
        out[file] = (pid, command_line(pid))
    return out
