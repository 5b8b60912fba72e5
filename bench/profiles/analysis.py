"""Where the samples fall: own and total time per frame, per thread class, and the
differential between two profiles.

A frame's *own* samples are those where it is the leaf (the code running); its *total*
samples are those where it is anywhere on the stack (counted once however deep it
recurses). Frames are compared without their line numbers (``stacks.frame_key``), so a
function is one row across releases. Shares are of all the profile's samples, so two
profiles of different lengths or rates compare. Pure: no files, no processes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from bench.profiles.stacks import THREAD_CLASSES, Stacks, frame_key, thread_class


@dataclass(frozen=True)
class FrameTime:
    """One frame's samples: where it runs (own) and where it is on the stack (total)."""

    frame: str
    own: int
    total: int


@dataclass(frozen=True)
class Change:
    """One frame's share of all samples in profile ``a`` and in ``b`` (0 to 1)."""

    frame: str
    own_a: float
    own_b: float
    total_a: float
    total_b: float

    @property
    def own_change(self) -> float:
        return self.own_b - self.own_a

    @property
    def total_change(self) -> float:
        return self.total_b - self.total_a


def frame_times(stacks: Stacks) -> list[FrameTime]:
    """Own and total samples of every frame (the thread root frame left out: it is the
    thread, not code), heaviest own first, then heaviest total, then by name."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames = [frame_key(f) for f in stack[1:]]
        if not frames:
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    rows = [FrameTime(f, own[f], total[f]) for f in total]
    return sorted(rows, key=lambda r: (-r.own, -r.total, r.frame))


def by_thread_class(stacks: Stacks) -> dict[str, Stacks]:
    """``stacks`` split by the class of thread each ran in (``stacks.THREAD_CLASSES``),
    classes without samples left out, in that order."""
    split: dict[str, Stacks] = {name: Counter() for name in THREAD_CLASSES}
    for stack, count in stacks.items():
        split[thread_class(stack)][stack] += count
    return {name: part for name, part in split.items() if part.total()}


def top_frames(stacks: Stacks, count: int, by: str = "own") -> list[FrameTime]:
    """The ``count`` frames with the most ``by`` ("own" or "total") samples."""
    rows = frame_times(stacks)
    if by == "total":
        rows.sort(key=lambda r: (-r.total, -r.own, r.frame))
    return rows[:count]


def _shares(stacks: Stacks) -> dict[str, tuple[float, float]]:
    samples = stacks.total()
    if not samples:
        return {}
    return {r.frame: (r.own / samples, r.total / samples) for r in frame_times(stacks)}


def differential(a: Stacks, b: Stacks, by: str = "own") -> list[Change]:
    """Every frame's share in ``a`` and in ``b``, the largest change of ``by`` ("own" or
    "total") share first, gained or lost alike; ties by name."""
    share_a, share_b = _shares(a), _shares(b)
    changes = []
    for frame in share_a.keys() | share_b.keys():
        own_a, total_a = share_a.get(frame, (0.0, 0.0))
        own_b, total_b = share_b.get(frame, (0.0, 0.0))
        changes.append(Change(frame, own_a, own_b, total_a, total_b))

    def size(c: Change) -> float:
        return abs(c.own_change if by == "own" else c.total_change)

    return sorted(changes, key=lambda c: (-size(c), c.frame))
