"""``chanbench report`` and ``compare``: the commands that read results rather than make
them, with the parsing of compare's options (thresholds, ``--between``)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bench.cli import exits
from bench.errors import ExitCode, UserError
from bench.results import store
from bench.results.model import Run
from bench.scenario import KEYS, Point

if TYPE_CHECKING:
    from bench.report import Source


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The ``report`` and ``compare`` subcommands and their options."""
    from bench.judge.compare import DEFAULT_LOSS_THRESHOLD, DEFAULT_THRESHOLD

    report = sub.add_parser("report", help="charts and a README from result files")
    report.add_argument(
        "results",
        nargs="*",
        metavar="RESULT.json",
        help="result files, overlaid (default: the newest in results/)",
    )
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="DIR",
        help="report directory (default: reports/<result name>/)",
    )
    report.set_defaults(handler=cmd_report)

    compare = sub.add_parser(
        "compare",
        help="compare two results; exit 1 on a regression",
        epilog=exits.epilog(
            [
                ExitCode.OK,
                ExitCode.REGRESSION,
                ExitCode.USER_ERROR,
                ExitCode.NOT_JUDGED,
                ExitCode.LEAK,
            ]
        ),
        formatter_class=exits.FORMATTER,
    )
    compare.add_argument("base", metavar="BASE.json")
    compare.add_argument("new", metavar="NEW.json", nargs="?")
    compare.add_argument(
        "--between",
        default=None,
        metavar="KEY=A,B",
        help="compare two values of a key inside one result (e.g. consumer=sync,async)",
    )
    compare.add_argument(
        "--threshold",
        type=parse_threshold,
        default=DEFAULT_THRESHOLD,
        metavar="PCT",
        help="smallest change reported as better or worse (default 10%%)",
    )
    compare.add_argument(
        "--fail-threshold",
        type=parse_threshold,
        default=None,
        metavar="PCT",
        help="smallest worse change that fails, exit 1 (default: --threshold)",
    )
    compare.add_argument(
        "--loss-threshold",
        type=parse_threshold,
        default=DEFAULT_LOSS_THRESHOLD,
        metavar="PCT",
        help="smallest change in loss, in percentage points, that counts (default 0.1%%)",
    )
    compare.add_argument(
        "--format",
        choices=("text", "md"),
        default="text",
        help="a terminal table, or Markdown for a CI comment",
    )
    compare.add_argument(
        "--charts",
        type=Path,
        default=None,
        metavar="DIR",
        help="also draw base and new overlaid into DIR",
    )
    compare.add_argument(
        "--force", action="store_true", help="compare results from different machines or versions"
    )
    compare.set_defaults(handler=cmd_compare)


def cmd_report(args: argparse.Namespace) -> int:
    """Charts, index.html and README.md from result files (default: the newest)."""
    from bench import report

    paths = [Path(p) for p in args.results] or [store.newest()]
    labels = report.source_labels(paths)
    sources = [
        report.Source(label, store.read(path), path)
        for label, path in zip(labels, paths, strict=True)
    ]
    out_dir = args.output or report.default_out_dir(paths)
    store.check_writable(out_dir, "-o")
    index = write_report(sources, out_dir)
    charts = len(list(out_dir.glob("*.png")))
    print(f"report: {index} ({charts} charts, README.md beside it)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare two results point by point; exit 1 on a regression past the threshold,
    4 when a point cannot be judged (``Comparison.exit_code``)."""
    from bench.judge import compare
    from bench.report import comparison as compare_output

    if args.between:
        if args.new is not None:
            raise UserError("--between compares inside one result: give one RESULT.json")
        key, a, b = parse_between(args.between)
        base, new = split_between(store.read(args.base), key, a, b)
        base_path, new_path = f"{args.base} [{key}={a}]", f"{args.base} [{key}={b}]"
    else:
        if args.new is None:
            raise UserError("compare needs BASE.json NEW.json, or one result and --between")
        base, new = store.read(args.base), store.read(args.new)
        base_path, new_path = args.base, args.new
        if os.path.samefile(base_path, new_path):
            raise UserError(
                f"compare {base_path} {new_path}: the same file twice; give the result "
                "to compare it with, or one result and --between key=A,B"
            )
    comparison = compare.compare(
        base,
        new,
        base_path=base_path,
        new_path=new_path,
        threshold=args.threshold,
        fail_threshold=args.fail_threshold,
        loss_threshold=args.loss_threshold,
        force=args.force,
    )
    if args.charts:
        store.check_writable(args.charts, "--charts")  # before the table, not after it
    render = compare_output.format_markdown if args.format == "md" else compare_output.format_text
    print(render(comparison), end="")
    if args.charts:
        names = write_charts(base, new, args.charts)
        print(f"charts: {args.charts} ({len(names)} charts, base and new overlaid)")
    return comparison.exit_code


def write_report(sources: Sequence[Source], out_dir: Path) -> Path:
    """``report.write_report``; interrupted (Ctrl-C), it removes the folder if it made it
    and left it empty, and the interrupt says how to make the report again."""
    from bench import report

    made = not out_dir.exists()
    try:
        return report.write_report(sources, out_dir)
    except KeyboardInterrupt:
        if made:
            with contextlib.suppress(OSError):
                out_dir.rmdir()  # only if empty: charts already drawn stay
        paths = [s.path for s in sources if s.path is not None]
        again = ["chanbench", "report", *map(str, paths)]
        if out_dir != report.default_out_dir(paths):
            again += ["-o", str(out_dir)]
        raise KeyboardInterrupt(
            f"the report in {out_dir} was not finished; make it with: {shlex.join(again)}"
        ) from None


def parse_threshold(text: str) -> float:
    """``10%`` or ``0.1`` as a fraction of the base; for argparse's ``type=``."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write a percentage such as 10% or a fraction such as 0.1"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a percentage of 0% or more")
    return value


def parse_between(text: str) -> tuple[str, str, str]:
    """``key=A,B`` (or ``key=A,key=B``) from ``--between``: the key and its two values."""
    key, sep, rest = text.partition("=")
    values = [v.strip().removeprefix(f"{key.strip()}=") for v in rest.split(",")]
    if not sep or not key.strip() or len(values) != 2 or not all(values):
        raise UserError(
            f"--between {text!r}: give a key and two of its values, e.g. consumer=sync,async"
        )
    if values[0] == values[1]:
        raise UserError(f"--between {text!r}: the same value twice; give two different values")
    return key.strip(), values[0], values[1]


def split_between(run: Run, key: str, base: str, new: str) -> tuple[Run, Run]:
    """The points of one result whose ``key`` is ``base`` and those where it is ``new``,
    each a run of its own with ``key`` set to one value on both sides, so ``compare``
    pairs them by everything else: two values of any key measured inside one run,
    interleaved, with the same verdicts and exit codes as two runs."""
    if key not in KEYS:
        raise UserError(f"--between {key}={base},{new}: {key!r} is not a scenario key")
    values = {str(p.point.value(key)) for p in run.points}
    missing = [v for v in (base, new) if v not in values]
    if missing:
        raise UserError(
            f"--between {key}={base},{new}: the result has no point with {key} = "
            f"{', '.join(missing)}; its values are {', '.join(sorted(values))}"
        )
    same = {key: Point().value(key)}

    def side(value: str) -> Run:
        points = [
            dataclasses.replace(p, point=dataclasses.replace(p.point, **same))
            for p in run.points
            if str(p.point.value(key)) == value
        ]
        return dataclasses.replace(run, points=points)

    return side(base), side(new)


def write_charts(base: Run, new: Run, out_dir: Path) -> list[str]:
    """Base and new overlaid on every report chart; returns the chart names."""
    from bench import report  # matplotlib only when charts are asked for

    charts = report.write_charts([report.Source("base", base), report.Source("new", new)], out_dir)
    return [c.name for c in charts]
