"""What a profiled repeat recorded: where its profiles are, and why one is missing.

A repeat measured with ``profile = "cpu"`` keeps, beside the result file, one collapsed
stack file per server process (py-spy's raw output) and the point's files merged into
one; the result holds their paths (relative to the result file's folder), their sample
counts, what the profiler itself cost in CPU, and, when there is no profile, the one
line that says why. The measurement is recorded either way.
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

    @property
    def samples(self) -> int:
        return sum(p.samples for p in self.processes)

    @property
    def ok(self) -> bool:
        return self.error is None and self.samples > 0
