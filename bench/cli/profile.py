"""``chanbench profile-diff``: two saved CPU profiles set against each other.

Any two collapsed-stack files (a point's ``cpu.folded`` beside its result, one repeat's
process, or py-spy's ``--format raw`` from elsewhere): the frames whose share of the busy
samples changed most, the table the report prints for two points of one run, for two
points of different runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import UserError
from bench.profiles import stacks
from bench.report import tables
from bench.report.profiles import CHANGE_HEADERS, change_rows


def add_command(sub: argparse._SubParsersAction) -> None:
    diff = sub.add_parser(
        "profile-diff",
        help="the frames that gained or lost share between two CPU profiles (folded stacks)",
    )
    diff.add_argument("base", type=Path, help="the profile before (e.g. a point's cpu.folded)")
    diff.add_argument("new", type=Path, help="the profile after")
    diff.add_argument(
        "--by",
        choices=("total", "own"),
        default="total",
        help="order by the change of total share (on the stack; default) or own (running)",
    )
    diff.add_argument("--top", type=int, default=20, help="rows to print (default 20)")
    diff.set_defaults(handler=cmd_profile_diff)


def read_busy(path: Path) -> stacks.Stacks:
    """A folded file's busy samples; a file that is missing or holds none is one line."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    busy, idle = stacks.split_idle(stacks.parse(text))
    if not busy:
        what = "only idle samples" if idle else "no collapsed stacks (lines 'a;b;c COUNT')"
        raise UserError(f"{path}: {what}; give a CPU profile such as a point's cpu.folded")
    return busy


def cmd_profile_diff(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise UserError(f"--top {args.top}: give 1 or more rows")
    base, new = read_busy(args.base), read_busy(args.new)
    print(f"{args.base} ({base.total():,} busy samples) -> {args.new} ({new.total():,})")
    print(tables.render(CHANGE_HEADERS, change_rows(base, new, args.by, args.top)))
    print(f"\nchange: percentage points of the busy samples, by {args.by} share")
    return 0
