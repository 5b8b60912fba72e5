"""memray's leak view cut at a churn run's cycle edges: per line that allocated it, what
each cycle allocated and was still alive when the last cycle ended.

memray's own leak view (``get_leaked_allocation_records``) is "not freed when the
process exited", over the whole capture, and a server stopped between repeats frees its
module globals at exit: a planted leak's bytes are freed then, and would not show. The
temporal records (``get_temporal_allocation_records``) say, per stack, in which of the
capture's memory snapshots (one each 10 ms, with its wall-clock time) each allocation
was made and freed; cut at the cycles' wall-clock edges, they give the survivors of each
cycle, alive at the churn's end whatever the exit freed later. Read after the server
stopped (memray writes until its process exits); the resolution is the snapshots' 10 ms:
an allocation counts for the cycle its snapshot interval began in, and as alive unless
surely freed before the last edge.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.results.profile import Survivor

# The lines kept in the result: enough to see past the allocator's and the layer's own
# churn to the line a leak holds, few enough to read beside the verdicts.
TOP = 10
# Frames kept of each line's heaviest stack, innermost first.
STACK_FRAMES = 8
# A long run has more snapshots than memray keeps by default (10,000, then it strides);
# a churn of an hour at 10 ms is 360,000.
MAX_SNAPSHOTS = 400_000
NO_FRAME = ("(no Python frame)", "?", 0)


def short(path: str) -> str:
    """A frame's file as its last two path parts (``chat/faults.py``), as py-spy's."""
    parts = Path(path).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else path


@dataclass
class _Line:
    bytes_by_cycle: list[int]
    allocations_by_cycle: list[int]
    stacks: dict[tuple[str, ...], int] = field(default_factory=dict)


def read(files: Sequence[Path], edges_ms: Sequence[float]) -> dict[tuple[str, str, int], _Line]:
    """Every capture file's survivors per cycle, by allocating line. ``edges_ms``: the
    churn's start, then each cycle's end, in wall-clock milliseconds; cycle k is from
    edge k to edge k+1, and "alive" means not freed before the last edge."""
    from memray import FileReader

    cycles = len(edges_ms) - 1
    lines: dict[tuple[str, str, int], _Line] = {}
    for path in files:
        with FileReader(str(path), max_memory_records=MAX_SNAPSHOTS) as reader:
            # An event at snapshot index s happened after snapshot s-1 and before s.
            times = [float(s.time) for s in reader.get_memory_snapshots()]
            after_ms, before_ms = [float("-inf"), *times], [*times, float("inf")]
            for record in reader.get_temporal_allocation_records(merge_threads=True):
                kept: list[tuple[int, int, int]] = []
                for span in record.intervals:
                    freed = span.deallocated_before_snapshot
                    if freed is not None and before_ms[freed] <= edges_ms[-1]:
                        continue  # surely freed before the churn ended
                    made_ms = after_ms[span.allocated_before_snapshot]
                    cycle = bisect.bisect_right(edges_ms, made_ms) - 1
                    if 0 <= cycle < cycles:
                        kept.append((cycle, span.n_bytes, span.n_allocations))
                if kept:
                    _add(lines, record.stack_trace(max_stacks=STACK_FRAMES), kept, cycles)
    return lines


def _add(
    lines: dict[tuple[str, str, int], _Line],
    trace: Sequence[tuple[str, str, int]],
    kept: list[tuple[int, int, int]],
    cycles: int,
) -> None:
    function, file, lineno = trace[0] if trace else NO_FRAME
    key = (short(file), function, lineno)
    line = lines.setdefault(key, _Line([0] * cycles, [0] * cycles))
    for cycle, size, count in kept:
        line.bytes_by_cycle[cycle] += size
        line.allocations_by_cycle[cycle] += count
    stack = tuple(f"{f} ({short(p)}:{n})" for f, p, n in trace)
    line.stacks[stack] = line.stacks.get(stack, 0) + sum(size for _, size, _ in kept)


def top(
    lines: dict[tuple[str, str, int], _Line], warmup_cycles: int, count: int = TOP
) -> list[Survivor]:
    """The lines that held the most per judged cycle (the median: a leak holds some every
    cycle, a cache filled once holds it in one), then over all judged cycles."""

    def judged(values: list[int]) -> list[int]:
        return values[warmup_cycles:] or values

    def rank(item: tuple[tuple[str, str, int], _Line]) -> tuple[float, int]:
        values = judged(item[1].bytes_by_cycle)
        return statistics.median(values), sum(values)

    out = []
    for (file, function, lineno), line in sorted(lines.items(), key=rank, reverse=True)[:count]:
        heaviest = max(line.stacks.items(), key=lambda kv: kv[1])[0]
        out.append(
            Survivor(
                file=file,
                line=lineno,
                function=function,
                size_bytes=sum(judged(line.bytes_by_cycle)),
                allocations=sum(judged(line.allocations_by_cycle)),
                bytes_by_cycle=line.bytes_by_cycle,
                allocations_by_cycle=line.allocations_by_cycle,
                stack=list(heaviest),
            )
        )
    return out
