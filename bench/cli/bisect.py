"""``chanbench bisect``: which commit of a package's repository made a metric worse,
found by measuring commits against each other (``bench.bisect``)."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import TextIO, cast

from bench.cli import exits
from bench.cli.read import parse_threshold
from bench.cli.run import DEFAULT_SCENARIO
from bench.deploy.commits import Commit, Repo, distribution, tree_cache
from bench.deploy.environments import SITE_REQUIREMENTS
from bench.errors import ExitCode, UserError
from bench.judge.significance import DEFAULT_THRESHOLD
from bench.redact import RedactingWriter
from bench.results import store
from bench.scenario import load as load_scenario

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


def add_commit_options(parser: argparse.ArgumentParser) -> None:
    """Options of the commands that measure a repository's commits."""
    parser.add_argument(
        "scenario", nargs="?", default=str(DEFAULT_SCENARIO), help="default: scenarios/quick.toml"
    )
    parser.add_argument("--repo", required=True, type=Path, help="a clone of the package's repo")
    parser.add_argument(
        "--path",
        default=None,
        help="the package's folder in the repo; commits not touching it are skipped "
        "(default: the one top-level folder with an __init__.py)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="override a matrix key, e.g. consumer=async",
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


class Log:
    """Prints a line and appends it to the command's log file."""

    def __init__(self, path: Path, out: TextIO) -> None:
        self.path, self.out = path, out

    def __call__(self, line: str) -> None:
        self.out.write(f"{line}\n")
        self.out.flush()
        with self.path.open("a") as log:
            log.write(f"{line}\n")


def cmd_bisect(args: argparse.Namespace) -> int:
    from bench.bisect.measure import Measurer, check_metric
    from bench.bisect.search import Bisection

    repo = Repo(args.repo)
    good, bad = repo.resolve(args.good, "--good"), repo.resolve(args.bad, "--bad")
    if good.sha == bad.sha:
        raise UserError(f"--good {args.good} and --bad {args.bad} are the same commit")
    if not repo.is_ancestor(good, bad):
        raise UserError(
            f"--good {args.good} is not an ancestor of --bad {args.bad}: give the older, "
            "good revision as --good and a later one as --bad"
        )
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
    out = cast(TextIO, RedactingWriter(sys.stdout))
    say = Log(folder / "bisect.log", out)
    measurer = Measurer(
        repo,
        scenario,
        pins(args.pins, distribution(repo.tree(bad, tree_cache()))),
        folder,
        out,
        command=args.command_line,
    )
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
