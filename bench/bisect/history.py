"""The history of a range of commits: each measured in interleaved blocks, the series'
change points found (``changepoint``) and each confirmed by the interleaved A/B of the
two commits either side of it.

A block is a run whose environments are a few consecutive commits and, first, the
commit before them, already measured: neighbours share minutes, and every block is tied
to the one before by a commit both measured. The folder keeps every run; a later
``history`` over the same folder reads them and measures only the commits they lack.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.bisect.changepoint import change_points
from bench.bisect.measure import Measurer, Verdict, env_name, measured, pooled, verdict
from bench.deploy.commits import Commit
from bench.errors import UserError
from bench.judge import significance, stats
from bench.judge.compare import Change
from bench.results import store
from bench.results.model import Run

# New commits per block, besides the measured one before them: five environments a run.
BLOCK = 4


@dataclass(frozen=True)
class ChangePoint:
    """Where ``point``'s series steps: ``after`` against ``before`` (the commit before
    it), confirmed or not by their interleaved A/B (``verdict``)."""

    point: str
    before: Commit
    after: Commit
    verdict: Verdict

    @property
    def change(self) -> Change | None:
        return next((c for c in self.verdict.changes if c.point == self.point), None)

    @property
    def confirmed(self) -> bool:
        return any(c.point == self.point for c in [*self.verdict.worse, *self.verdict.better])


@dataclass
class History:
    """The commits of the range, every run measured over them, and the change points."""

    commits: list[Commit]
    runs: list[Run]
    metric: str
    change_points: list[ChangePoint] = field(default_factory=list)

    def points(self) -> list[str]:
        names: dict[str, None] = {}
        for commit in self.commits:
            names.update(dict.fromkeys(pooled(self.runs, commit)))
        return list(names)

    def series(self, point: str, metric: str) -> list[list[float]]:
        """Each commit's values of ``metric`` at ``point``, every repeat pooled."""
        out = []
        for commit in self.commits:
            found = pooled(self.runs, commit).get(point)
            out.append(found.values(metric) if found else [])
        return out

    def medians(self, point: str, metric: str) -> list[float]:
        return [stats.median(v) or 0.0 for v in self.series(point, metric)]

    def levels(self, point: str, metric: str) -> list[float]:
        """Each commit's median in the run that first measured it, chained from run to
        run through the commits a run shares with those before (a block's lead): the
        machine's drift between blocks, charged to each block as a whole, is taken out,
        so that a busy quarter of an hour does not read as a step. 0: not measured."""
        level: dict[str, float] = {}
        for run in self.runs:
            raw = {}
            for commit in self.commits:
                found = pooled([run], commit).get(point)
                value = stats.median(found.values(metric)) if found else None
                if value:
                    raw[commit.sha] = value
            known = [level[sha] / value for sha, value in raw.items() if sha in level]
            factor = stats.median(known) or 1.0 if known else 1.0
            for sha, value in raw.items():
                level.setdefault(sha, value * factor)
        return [level.get(c.sha, 0.0) for c in self.commits]


def read_runs(folder: Path) -> list[Run]:
    """The runs a history's folder keeps, oldest first (a file that cannot be read is
    one line: its name and why)."""
    return [store.read(path) for path in sorted(folder.glob("*.json"))]


def blocks(series: Sequence[Commit], runs: Sequence[Run], size: int = BLOCK) -> list[list[Commit]]:
    """The runs still to make: the commits ``runs`` lack, ``size`` at a time, each block
    led by the commit before its first (measured already, or in the block before)."""
    todo = [i for i, c in enumerate(series) if not measured(runs, c)]
    out: list[list[Commit]] = []
    while todo:
        chunk, todo = todo[:size], todo[size:]
        lead = [series[chunk[0] - 1]] if chunk[0] > 0 else []
        out.append([*lead, *(series[i] for i in chunk)])
    return out


def together(runs: Sequence[Run], *commits: Commit) -> list[Run]:
    """The runs that measured all of ``commits`` side by side."""
    names = {env_name(c) for c in commits}
    return [r for r in runs if names <= {p.point.env for p in r.points}]


def measure(
    measurer: Measurer,
    series: Sequence[Commit],
    metric: str,
    say: Callable[[str], None],
    threshold: float = significance.DEFAULT_THRESHOLD,
) -> History:
    """Measure what ``measurer``'s folder lacks of ``series``, then find and confirm the
    change points of ``metric``."""
    runs = read_runs(measurer.folder)
    usable = [c for c in series if measured(runs, c) or measurer.build(c)]
    for commit in series:
        if commit not in usable:
            say(f"skip {commit}: does not build: {measurer.broken[commit.sha]}")
    todo = blocks(usable, runs)
    say(f"{len(usable)} commits, {sum(1 for c in usable if measured(runs, c))} measured before")
    for n, block in enumerate(todo, 1):
        say(f"block {n} of {len(todo)}: {', '.join(c.short for c in block)}")
        runs.append(measurer.measure(block, f"block-{block[-1].short}"))
    history = History([c for c in usable if measured(runs, c)], runs, metric)
    for point in history.points():
        for i in change_points(history.levels(point, metric), threshold):
            before, after = history.commits[i - 1], history.commits[i]
            history.change_points.append(
                confirm(measurer, history, point, before, after, threshold, say)
            )
    return history


def confirm(
    measurer: Measurer,
    history: History,
    point: str,
    before: Commit,
    after: Commit,
    threshold: float,
    say: Callable[[str], None],
) -> ChangePoint:
    """``after`` against ``before`` on the runs that measured both; when that says
    neither better nor worse, one more run of the two alone (once: a later history
    reads it from the folder), pooled."""
    found = _judge(history, point, before, after, threshold)
    pairs = [r for r in together(history.runs, before, after) if len(r.scenario.envs) == 2]
    if not found.confirmed and not pairs:
        say(f"confirming {after.short} against {before.short}: one more interleaved run")
        with contextlib.suppress(UserError):
            history.runs.append(measurer.measure([before, after], f"confirm-{after.short}"))
        found = _judge(history, point, before, after, threshold)
    state = "confirmed" if found.confirmed else "not confirmed"
    say(f"change point at {after} for {point}: {found.verdict.describe()} ({state})")
    return found


def _judge(
    history: History, point: str, before: Commit, after: Commit, threshold: float
) -> ChangePoint:
    runs = together(history.runs, before, after)
    return ChangePoint(
        point, before, after, verdict(runs, before, after, history.metric, threshold)
    )
