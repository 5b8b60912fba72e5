"""What a profiled repeat recorded: where its profiles are, and why one is missing.

A repeat measured with ``profile = "cpu"`` keeps, beside the result file, one collapsed
stack file per server process (py-spy's raw output) and the point's files merged into
one; the result holds their paths (relative to the result file's folder), their sample
counts, what the profiler itself cost in CPU, and, when there is no profile, the one
line that says why. The measurement is recorded either way.

A churn repeat measured with ``profile = "memory"`` also holds memray's leak view cut at
the cycles' edges (``survivors``): the lines whose allocations, made in a cycle, were
still alive when the last cycle ended, with their bytes and counts per cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.results.record import Record


@dataclass
class ProcessProfile(Record):
    """One server process's profile in one repeat."""

    pid: int = 0
    name: str = ""
    file: str | None = None  # its collapsed stacks, relative to the result's folder
    samples: int = 0
    error: str | None = None


@dataclass
class Survivor(Record):
    """One line's allocations that outlived the churn: made during a cycle (per cycle,
    in ``bytes_by_cycle`` and ``allocations_by_cycle``), never freed before the last ended."""

    file: str = ""  # the allocating frame's file, its last two path parts
    line: int = 0
    function: str = ""
    size_bytes: int = 0  # over the judged cycles (after warmup_cycles)
    allocations: int = 0
    bytes_by_cycle: list[int] = field(default_factory=list)
    allocations_by_cycle: list[int] = field(default_factory=list)
    # The heaviest stack through this line, innermost first: "function (file:line)".
    stack: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class ProfileRecord(Record):
    """A repeat's profile: ``error`` says why it is missing (the measurement is kept)."""

    kind: str = "cpu"
    rate_hz: int = 0
    window_s: float = 0.0
    processes: list[ProcessProfile] = field(default_factory=list)
    # The point's profiles so far, every repeat and process merged into one file.
    point_file: str | None = None
    # CPU the profiler's own processes used during the window, in seconds.
    profiler_cpu_s: float = 0.0
    error: str | None = None
    # Memory on a churn point: the top lines still holding what the cycles allocated,
    # and why there are none (memray missing, an unreadable capture).
    survivors: list[Survivor] = field(default_factory=list)
    survivors_error: str | None = None

    @property
    def samples(self) -> int:
        return sum(p.samples for p in self.processes)

    @property
    def ok(self) -> bool:
        return self.error is None and self.samples > 0
