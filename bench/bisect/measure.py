"""Commits measured against each other: each commit's tree an environment (the package
installed from it, editable, over pinned everything else, by ``deploy.environments``),
several commits the environments of one interleaved run, and the repeats of several
such runs of the same commits pooled; judged, commit against commit, by compare's rule.

``bisect`` and ``history`` both measure through here; each run is a result file of its
own in the command's folder, so every step can be read, reported and compared later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bench.deploy import environments
from bench.deploy.commits import Commit, Repo, tree_cache
from bench.errors import ExitCode, UserError
from bench.judge import significance
from bench.judge.compare import Change
from bench.results import environment, store
from bench.results.metrics import METRICS
from bench.results.model import PointResult, Run
from bench.scenario import CustomEnv, Scenario

# Metrics only a run with a database measures.
DATABASE_METRICS = ("database_cpu_percent", "lost_writes")


def check_metric(metric: str, scenario: Scenario) -> None:
    """Refuse a metric chanbench does not know, or one the scenario does not measure."""
    if metric not in METRICS:
        raise UserError(f"--metric {metric}: unknown metric; known: {', '.join(METRICS)}")
    if metric in DATABASE_METRICS and not any(p.needs_database for p in scenario.points()):
        raise UserError(
            f"--metric {metric}: {scenario.path or scenario.name} does not measure it (no "
            "point writes to a database); pick a metric it measures, e.g. delivered_per_s"
        )


def env_name(commit: Commit) -> str:
    return commit.short


@dataclass
class Measurer:
    """Builds and measures commits of ``repo`` with ``scenario``'s points, writing each
    run into ``folder``; ``pins`` are installed under every commit's tree."""

    repo: Repo
    scenario: Scenario
    pins: tuple[str, ...]
    folder: Path
    out: TextIO
    command: str | None = None
    # Why a commit could not be built, by sha (each tried once).
    broken: dict[str, str] = field(default_factory=dict)
    runs: int = 0

    def env(self, commit: Commit) -> CustomEnv:
        tree = self.repo.tree(commit, tree_cache())
        return CustomEnv(requirements=self.pins, source=str(tree))

    def build(self, commit: Commit) -> bool:
        """Build ``commit``'s environment (or find it cached); ``False`` if it cannot be."""
        if commit.sha in self.broken:
            return False
        kinds = {p.server for p in self.scenario.points()}
        try:
            environments.ready(
                env_name(commit),
                self.env(commit),
                self.folder / "logs" / f"env-{commit.short}.log",
                kinds=kinds,
            )
        except UserError as exc:
            self.broken[commit.sha] = str(exc)
            return False
        return True

    def measure(self, commits: Sequence[Commit], name: str) -> Run:
        """One run with ``commits`` as its environments, repeats interleaved; its file
        is ``<folder>/<time>_<name>_<sha>.json``."""
        from bench.run import runner  # the measuring stack, only when measuring

        envs = {env_name(c): self.env(c) for c in commits}
        scenario = dataclasses.replace(
            self.scenario,
            name=f"{self.scenario.name}-{name}",
            matrix={**self.scenario.matrix, "env": list(envs)},
            envs=envs,
        )
        path = store.new_path(scenario.name, environment.git_info().commit, self.folder)
        ctx = runner.RunContext(
            scenario=scenario,
            path=path,
            log_dir=path.with_suffix("") / "logs",
            out=self.out,
            command=self.command,
        )
        code = runner.run(ctx, calibrate_first=False)
        self.runs += 1
        if code == ExitCode.INTERRUPTED:
            raise KeyboardInterrupt(f"the measured steps are kept in {self.folder}")
        return ctx.run


def pooled(runs: Sequence[Run], commit: Commit) -> dict[str, PointResult]:
    """``commit``'s points over ``runs`` by their name without the env (the same point
    on another commit has the same name), each with the repeats of every run: batches of
    the same commits, pooled."""
    out: dict[str, PointResult] = {}
    for run in runs:
        for point in run.points:
            env = point.point.env
            if env != env_name(commit):
                continue
            name = " ".join(w for w in (point.label or point.id).split() if w != f"env={env}")
            if name in out:
                point = dataclasses.replace(out[name], repeats=[*out[name].repeats, *point.repeats])
            out[name] = point
    return out


def measured(runs: Sequence[Run], commit: Commit) -> bool:
    """Whether every point of ``commit`` has a successful repeat in ``runs``."""
    points = pooled(runs, commit)
    return bool(points) and all(p.ok_repeats() for p in points.values())


@dataclass(frozen=True)
class Verdict:
    """``new`` against ``base``, point by point: each point's ``Change`` (compare's rule)
    and its p after Holm-Bonferroni over the points."""

    changes: list[Change]

    @property
    def worse(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == significance.WORSE and c.holm_rejected]

    @property
    def better(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == significance.BETTER and c.holm_rejected]

    def describe(self) -> str:
        return "; ".join(describe(c) for c in self.changes)


def describe(change: Change) -> str:
    """``async 0.46x (p = 0.008, worse)``: one point's change in words."""
    ratio = "-" if change.ratio is None else f"{change.ratio:.2f}x"
    p = "-" if change.p_holm is None else f"{change.p_holm:.3g}"
    return f"{change.point} {ratio} (p = {p}, {change.verdict})"


def verdict(
    runs: Sequence[Run],
    base: Commit,
    new: Commit,
    metric: str,
    threshold: float = significance.DEFAULT_THRESHOLD,
) -> Verdict:
    """``new`` against ``base`` on ``metric``, point by point, over the pooled repeats of
    ``runs``: compare's rule (threshold and Mann-Whitney U), Holm-Bonferroni over the
    points so that more points do not make a false step likelier."""
    old, now = pooled(runs, base), pooled(runs, new)
    changes = [
        Change(
            label,
            metric,
            old[label].values(metric),
            now[label].values(metric),
            threshold,
            losses={
                "base": old[label].values("loss_ratio"),
                "new": now[label].values("loss_ratio"),
            },
            closed_loop=False,  # bisect judges the metric it is given, whatever the mode
        )
        for label in old
        if label in now
    ]
    family = [c for c in changes if c.p is not None and c.verdict != significance.NOT_JUDGED]
    for change, p in zip(family, significance.holm([c.p or 1.0 for c in family]), strict=True):
        change.p_holm = p
    return Verdict(changes)
