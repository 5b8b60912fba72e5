"""Collapsed stacks: the text py-spy's ``--format raw`` writes, read, merged and written.

One stack per line, frames root first separated by ``;``, then a space and its sample
count (Brendan Gregg's folded format, which speedscope, flamegraph.pl and inferno read).
py-spy's ``--threads`` puts the thread as the root frame, ``thread (TID): NAME``; the
thread ID differs from repeat to repeat, so merging keeps the name alone. Pure: no
files, no processes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

Stack = tuple[str, ...]
Stacks = Counter[Stack]

# py-spy's thread frame: "thread (12345): MainThread", or "thread (12345)" unnamed.
_THREAD = re.compile(r"^thread \((?:0x)?[0-9A-Fa-f]+\)(?:: (?P<name>.*))?$")
# A frame's line number: "handle (chat/work.py:26)" -> "handle (chat/work.py)".
_LINE = re.compile(r":\d+\)$")

# Thread classes, for the tables: the server's event loop runs in the main thread;
# asgiref runs sync code (the sync consumer, every sync_to_async hop) in threads of a
# concurrent.futures ThreadPoolExecutor, which names them ThreadPoolExecutor-N_M.
LOOP, EXECUTOR, OTHER = "event loop (main thread)", "asgiref executor", "other threads"
THREAD_CLASSES = (LOOP, EXECUTOR, OTHER)
# Leaves that are a thread waiting, not working (``frame_key`` form): py-spy leaves out a
# thread asleep in the kernel, but counts one that is runnable (woken, waiting for a
# core: common on a busy 2-core machine) as active, and its own fallback (a leaf named
# "wait" or "select") misses Python 3.11's qualified names ("Condition.wait").
IDLE_LEAVES = (
    re.compile(r"^(\w+\.)?wait \(threading\.py\)$"),
    re.compile(r"^(\w+\.)?select \(selectors\.py\)$"),
    # An executor thread blocked in its queue's get (C code: _worker is the leaf).
    re.compile(r"^_worker \(concurrent/futures/thread\.py\)$"),
)


def parse(text: str) -> Stacks:
    """Collapsed stacks from folded text; blank lines and lines without a count skipped."""
    stacks: Stacks = Counter()
    for line in text.splitlines():
        frames, _, count = line.rstrip().rpartition(" ")
        if not frames or not count.isdigit():
            continue
        stacks[tuple(frames.split(";"))] += int(count)
    return stacks


def thread_name(frame: str) -> str | None:
    """The thread's name if ``frame`` is py-spy's thread frame ("thread" when unnamed)."""
    match = _THREAD.match(frame)
    if match is None:
        return None
    return match.group("name") or "thread"


def normalized(stacks: Stacks) -> Stacks:
    """``stacks`` with each thread frame reduced to its thread's name, so that the same
    thread of another process or repeat merges with it."""
    out: Stacks = Counter()
    for stack, count in stacks.items():
        name = thread_name(stack[0]) if stack else None
        out[(name, *stack[1:]) if name is not None else stack] += count
    return out


def merge(all_stacks: Iterable[Stacks]) -> Stacks:
    """The sum of several profiles (processes, repeats), thread frames normalized."""
    total: Stacks = Counter()
    for stacks in all_stacks:
        total.update(normalized(stacks))
    return total


def folded(stacks: Stacks) -> str:
    """Folded text, heaviest stack first (ties in stack order), for any flame graph tool."""
    ordered = sorted(stacks.items(), key=lambda item: (-item[1], item[0]))
    return "".join(f"{';'.join(stack)} {count}\n" for stack, count in ordered if count > 0)


def frame_key(frame: str) -> str:
    """A frame without its line number: one function, wherever in it the sample fell and
    whichever release's line numbering it has (the differential between environments)."""
    return _LINE.sub(")", frame)


def is_idle(stack: Stack) -> bool:
    """Whether the stack's leaf is a thread waiting (``IDLE_LEAVES``)."""
    leaf = frame_key(stack[-1]) if len(stack) > 1 else ""
    return any(pattern.match(leaf) for pattern in IDLE_LEAVES)


def split_idle(stacks: Stacks) -> tuple[Stacks, Stacks]:
    """``stacks`` as (busy, idle): the profile's work, and its threads' waits apart."""
    busy: Stacks = Counter()
    idle: Stacks = Counter()
    for stack, count in stacks.items():
        (idle if is_idle(stack) else busy)[stack] += count
    return busy, idle


def thread_class(stack: Stack) -> str:
    """Which class of thread a stack (root frame: its thread) ran in."""
    name = (thread_name(stack[0]) or stack[0]) if stack else ""
    if name == "MainThread":
        return LOOP
    if name.startswith("ThreadPoolExecutor"):
        return EXECUTOR
    return OTHER
