"""``chanbench bisect`` and ``history``: which commit of a package's repository made a
metric worse, and what every commit of a range did, measured commit against commit
(``bench.bisect``)."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, cast

from bench.cli import exits
from bench.cli.read import parse_threshold
from bench.cli.run import add_scenario_options
from bench.deploy.commits import Commit, Repo, distribution, tree_cache
from bench.deploy.environments import SITE_REQUIREMENTS
from bench.errors import ExitCode, UserError
from bench.judge.significance import DEFAULT_THRESHOLD
from bench.redact import RedactingWriter
from bench.results import store
from bench.scenario import Scenario
from bench.scenario import load as load_scenario

if TYPE_CHECKING:
    from bench.bisect.measure import Measurer

# Pinned, unless the repository is one of them, at the versions chanbench runs with.
PINNED = (*SITE_REQUIREMENTS, "asgiref")


def add_commands(sub: argparse._SubParsersAction) -> None:
    bisect = sub.add_parser(
        "bisect",
        help="find the commit of a package's repository that made a metric worse",
        epilog=exits.epilog([ExitCode.OK, ExitCode.USER_ERROR, ExitCode.NOT_JUDGED]),
        formatter_class=exits.FORMATTER,
    )
    add_commit_options(bisect)
    bisect.add_argument("--good", required=True, metavar="REV", help="a revision without it")
    bisect.add_argument("--bad", required=True, metavar="REV", help="a later one with it")
    bisect.add_argument(
        "--max-repeats",
        type=int,
        default=None,
        metavar="N",
        help="repeats a side a step may pool before it gives up (default: 3 batches)",
    )
    bisect.set_defaults(handler=cmd_bisect)

    history = sub.add_parser(
        "history",
        help="measure every commit of a range touching the package; find its change points",
    )
    history.add_argument("range", metavar="OLD..NEW", help="the commits after OLD up to NEW")
    add_commit_options(history)
    which = history.add_mutually_exclusive_group()
    which.add_argument("--every", type=int, default=1, metavar="N", help="every Nth commit")
    which.add_argument("--tags", action="store_true", help="the tagged commits only")
    history.set_defaults(handler=cmd_history)


def add_commit_options(parser: argparse.ArgumentParser) -> None:
    """Options of the commands that measure a repository's commits."""
    add_scenario_options(parser, "consumer=async")
    parser.add_argument("--repo", required=True, type=Path, help="a clone of the package's repo")
    parser.add_argument(
        "--path",
        default=None,
        help="the package's folder in the repo; commits not touching it are skipped "
        "(default: the one top-level folder with an __init__.py)",
    )
    parser.add_argument(
        "--metric", default="delivered_per_s", help="the metric judged (default delivered_per_s)"
    )
    parser.add_argument(
        "--threshold",
        type=parse_threshold,
        default=DEFAULT_THRESHOLD,
        metavar="PCT",
        help="smallest change that counts (default 10%%)",
    )
    parser.add_argument(
        "--pin",
        dest="pins",
        action="append",
        default=[],
        metavar="REQ",
        help="a requirement installed under every commit, e.g. daphne==4.1.2 (default: "
        "the versions chanbench runs with of the site's other packages)",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=None, help="where the folder of results goes"
    )


def pins(given: list[str], package: str | None) -> tuple[str, ...]:
    """What every commit's environment pins: ``--pin`` by name, and for the rest of the
    site's packages the versions chanbench's own environment has, so that two commits
    differ in the repository's package alone; a package that requires the repository's
    is left to the resolver (its version may need a newer one than an old commit)."""

    def norm(name: str) -> str:
        return re.split(r"[^A-Za-z0-9._-]", name.strip(), maxsplit=1)[0].lower().replace("_", "-")

    named = {norm(p) for p in given}
    out = list(given)
    for name in PINNED:
        if norm(name) in named or (package and norm(name) == norm(package)):
            continue
        try:
            needs = {norm(r) for r in metadata.requires(name) or []}
            if package and norm(package) in needs:
                continue
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return tuple(out)


def folder_for(args: argparse.Namespace, kind: str, old: Commit, new: Commit) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    root = args.results_dir or store.RESULTS_DIR
    store.check_writable(root, "--results-dir")
    folder = root / f"{kind}-{stamp}-{old.sha[:7]}-{new.sha[:7]}"
    store.make_dir(folder)
    return folder


def span(repo: Repo, old: tuple[str, str], new: tuple[str, str]) -> tuple[Commit, Commit]:
    """The commits two revisions name (each with the option it came from), the first an
    ancestor of the second."""
    first, last = repo.resolve(*old), repo.resolve(*new)
    if first.sha == last.sha:
        raise UserError(f"{old[1]} {old[0]} and {new[1]} {new[0]} are the same commit")
    if not repo.is_ancestor(first, last):
        raise UserError(
            f"{old[1]} {old[0]} is not an ancestor of {new[1]} {new[0]}: give the older "
            "revision first"
        )
    return first, last


class Log:
    """Prints a line and appends it to the command's log file."""

    def __init__(self, path: Path, out: TextIO) -> None:
        self.path, self.out = path, out

    def __call__(self, line: str) -> None:
        self.out.write(f"{line}\n")
        self.out.flush()
        with self.path.open("a") as log:
            log.write(f"{line}\n")


def open_measurer(
    args: argparse.Namespace, repo: Repo, scenario: Scenario, newest: Commit, log: Path
) -> tuple[Log, Measurer]:
    """The command's log and its measurer: results in the log's folder, the pins read
    against the distribution the newest commit builds."""
    from bench.bisect.measure import Measurer

    out = cast(TextIO, RedactingWriter(sys.stdout))
    package = distribution(repo.tree(newest, tree_cache()))
    measurer = Measurer(
        repo, scenario, pins(args.pins, package), log.parent, out, command=args.command_line
    )
    return Log(log, out), measurer


def cmd_bisect(args: argparse.Namespace) -> int:
    from bench.bisect.measure import check_metric
    from bench.bisect.search import Bisection

    repo = Repo(args.repo)
    good, bad = span(repo, (args.good, "--good"), (args.bad, "--bad"))
    scenario = load_scenario(args.scenario, args.overrides)
    check_metric(args.metric, scenario)
    batch = max(p.repeats for p in scenario.points())
    max_repeats = args.max_repeats or 3 * batch
    if max_repeats < batch:
        raise UserError(f"--max-repeats {max_repeats}: at least the scenario's {batch} repeats")
    path = args.path or repo.package_path(bad)
    between = [c for c in repo.touching(good, bad, path) if c.sha != bad.sha]
    line = [good, *between, bad]
    folder = folder_for(args, "bisect", good, bad)
    say, measurer = open_measurer(args, repo, scenario, bad, folder / "bisect.log")
    say(f"chanbench bisect: {good} (good) .. {bad} (bad)")
    say(
        f"  {len(between)} commits between touch {path}/; {scenario.name}, {args.metric}, "
        f"{batch} repeats a side a batch, up to {max_repeats}; pinned: {' '.join(measurer.pins)}"
    )
    started = time.monotonic()
    outcome = Bisection(measurer, line, args.metric, say, args.threshold, batch, max_repeats).run()
    say(outcome.message)
    if outcome.change is not None:
        say(f"  the change: {outcome.change.describe()}")
    minutes = (time.monotonic() - started) / 60
    say(
        f"  {outcome.steps} steps, {measurer.runs} measured runs, {minutes:.1f} min; "
        f"{len(outcome.skipped)} skipped; results and log: {folder}"
    )
    return outcome.code


def cmd_history(args: argparse.Namespace) -> int:
    from bench.bisect import history
    from bench.bisect.measure import check_metric, describe
    from bench.report.history import write_page

    old_rev, sep, new_rev = args.range.partition("..")
    if not sep or not old_rev or not new_rev:
        raise UserError(f"{args.range}: write the range as OLD..NEW, e.g. 4.0.0..4.3.2")
    if args.every < 1:
        raise UserError(f"--every {args.every}: must be 1 or more")
    repo = Repo(args.repo)
    old, new = span(repo, (old_rev, "OLD"), (new_rev, "NEW"))
    scenario = load_scenario(args.scenario, args.overrides)
    check_metric(args.metric, scenario)
    path = args.path or repo.package_path(new)
    if args.tags:
        later = repo.tags(old, new)
        later += [] if later and later[-1].sha == new.sha else [new]
    else:
        touching = repo.touching(old, new, path)
        later = touching[args.every - 1 :: args.every]
        if touching and touching[-1] not in later:
            later.append(touching[-1])
    root = args.results_dir or store.RESULTS_DIR
    store.check_writable(root, "--results-dir")
    name = re.sub(r"[^A-Za-z0-9_.+=,-]+", "-", f"history-{repo.path.name}-{scenario.run_name()}")
    folder = root / name
    store.make_dir(folder)
    say, measurer = open_measurer(args, repo, scenario, new, folder / "history.log")
    which = "tagged commits" if args.tags else f"commits touching {path}/"
    say(f"chanbench history: {old} and the {len(later)} {which} after it up to {new.short}")
    found = history.measure(measurer, [old, *later], args.metric, say, args.threshold)
    how = (
        f"{scenario.name} ({args.metric}) over {len(found.commits)} commits of {repo.path.name} "
        f"from {old.short} to {new.short} ({which}); pinned: {' '.join(measurer.pins)}; "
        f"command: {args.command_line}"
    )
    index = write_page(found, folder / "report", f"History of {repo.path.name}", how)
    confirmed = [c for c in found.change_points if c.confirmed]
    say(f"{len(confirmed)} confirmed change points of {len(found.change_points)} found")
    for change in confirmed:
        say(
            f"  {change.after} ({change.point}): {describe(change.change) if change.change else ''}"
        )
    say(f"page: {index}")
    return ExitCode.OK
