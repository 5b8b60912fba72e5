"""Compare two results: did the change make anything better or worse, and for sure?

Points are matched by their keys (all but ``repeats``). For each matched point and
metric the change is new against base over the repeats' values (medians shown; latency is
each repeat's percentile over every expected delivery, a lost message counting as +inf),
and the verdict is ``significance.judge``'s, the rule reports use too (asv's): a change is
"better" or "worse" only when it is at least the threshold AND a two-sided Mann-Whitney U
test on the repeats' values says the samples differ (p < ``significance.SIGNIFICANCE_ALPHA``).
The threshold is relative (default 10% of the base median), except for loss: an absolute
difference (default 0.1 percentage points), since a base without loss makes any ratio
infinite. Otherwise:

- "uncertain": past the threshold, every repeat of one side beyond every repeat of the
  other, but too few repeats for the test ever to reach p < 0.05 (the smallest p the exact
  test can reach is 2 / C(n + m, n): 0.33 for 2 against 2, 0.1 for 3 against 3, 0.036 for 3
  against 5, 0.029 for 4 against 4). asv marks these as uncertain too. They never fail the
  gate: rerun with more repeats for a verdict.
- "not significant": under the threshold, or the samples overlap.
- "not judged": a latency where a repeat of either side lost more than
  ``stats.LOSS_BOUND``: the loss is the finding there (its own row), not the latency.
- "failed": the base point measured something and the new one has no successful repeat.

The gate (exit 1) fails on a "failed" point, or on a throughput, latency or loss change
worse by at least the fail threshold (loss: the loss threshold) whose p stays below alpha
after Holm-Bonferroni over every gated test of the comparison, chosen before looking at
which way any of them went (only a test whose repeats are all one value, which no
reordering could make significant, is left out), so that many points and metrics do not
turn noise into a false alarm. Latency is gated in open loop only: in closed loop it
follows from throughput (Little's law), the same rule the report's verdicts use. Threads
and CPU are compared but never fail it: CPU rises with throughput, so a faster server
doing more work would read as a regression.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.errors import ExitCode, UserError
from bench.judge import significance, stats
from bench.judge.leak_compare import LeakChange, leak_changes, staircase_notes
from bench.judge.significance import DEFAULT_THRESHOLD
from bench.results.metrics import METRICS
from bench.results.model import PointResult, Run, varying_keys
from bench.results.units import ms
from bench.scenario.model import KEYS, Point

COMPARED = ("delivered_per_s", "p50_ms", "p99_ms", "threads", "cpu_percent", "loss_ratio")
GATED = ("delivered_per_s", "p50_ms", "p99_ms", "loss_ratio")
# A loss change smaller than this (0.1 percentage points) is never better or worse.
DEFAULT_LOSS_THRESHOLD = 0.001
# Two results must come from the same machine to be compared.
MACHINE_KEYS = ("host", "cpu_model", "cpu_count")
NOT_MATCHED = ("repeats",)


def incompatibility(base: Run, new: Run) -> str | None:
    """Why ``base`` and ``new`` should not be compared, in one line, or None."""
    eb, en = base.environment, new.environment
    diffs = [
        f"{key} {getattr(eb, key)!r} vs {getattr(en, key)!r}"
        for key in MACHINE_KEYS
        if getattr(eb, key) != getattr(en, key)
    ]
    if diffs:
        return f"base and new ran on different machines ({', '.join(diffs)})"
    pb, pn = eb.packages, en.packages
    diffs = [
        f"{name} {pb.get(name, 'missing')} vs {pn.get(name, 'missing')}"
        for name in sorted(set(pb) | set(pn))
        if pb.get(name) != pn.get(name)
    ]
    if eb.python != en.python:
        diffs.insert(0, f"python {eb.python} vs {en.python}")
    if diffs:
        return f"base and new ran with different versions ({', '.join(diffs)})"
    return None


def _match_key(point: Point, keys: Sequence[str]) -> str:
    # 10 and 10.0 are one value; JSON keeps whichever the scenario wrote.
    def norm(v: Any) -> Any:
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v

    return json.dumps({k: norm(point.value(k)) for k in keys}, sort_keys=True)


def match_points(
    base: Run, new: Run
) -> tuple[list[tuple[PointResult, PointResult]], list[PointResult], list[PointResult]]:
    """(base, new) pairs with equal keys, then the points only in base, only in new.

    A key added to chanbench between the two runs reads as its default in the older
    result (``bench.results.schema``), so an older result matches at the new key's default.
    """
    bp, np_ = base.points, new.points
    keys = [k for k in KEYS if k not in NOT_MATCHED]
    new_by_key: dict[str, PointResult] = {}
    for point in np_:
        new_by_key.setdefault(_match_key(point.point, keys), point)
    pairs, only_base = [], []
    matched: set[int] = set()
    for point in bp:
        other = new_by_key.get(_match_key(point.point, keys))
        if other is None or id(other) in matched:
            only_base.append(point)
        else:
            matched.add(id(other))
            pairs.append((point, other))
    only_new = [p for p in np_ if id(p) not in matched]
    return pairs, only_base, only_new


def _differing_keys(a: PointResult, b: PointResult) -> list[str]:
    return [
        k for k in sorted(KEYS) if k not in NOT_MATCHED and a.point.value(k) != b.point.value(k)
    ]


@dataclass
class Change:
    """One metric of one matched point, base against new.

    ``threshold`` is relative, or absolute for the metrics judged on the difference
    (loss). The metric's own rule judges it (``Metric.judge``). ``losses`` holds each
    side's per-repeat loss ratios, for the latencies' loss bound; ``closed_loop``
    says the point ran closed loop, where latency is not gated. ``p_holm`` is set by
    ``compare`` on the gate's family (``in_family``)."""

    point: str
    metric: str
    base: list[float]
    new: list[float]
    threshold: float
    alpha: float = significance.SIGNIFICANCE_ALPHA
    losses: dict[str, list[float]] = field(default_factory=dict)
    loss_bound: float = stats.LOSS_BOUND
    closed_loop: bool = False
    base_median: float | None = field(init=False)
    new_median: float | None = field(init=False)
    ratio: float | None = field(init=False)
    difference: float | None = field(init=False)
    p: float | None = field(init=False)
    verdict: str = field(init=False)
    reason: str | None = field(init=False)
    p_holm: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.base_median = stats.median(self.base)
        self.new_median = stats.median(self.new)
        judgement = METRICS[self.metric].judge(
            self.base,
            self.new,
            self.losses,
            threshold=self.threshold,
            alpha=self.alpha,
            loss_bound=self.loss_bound,
        )
        self.ratio, self.p, self.verdict = judgement.ratio, judgement.p, judgement.verdict
        self.difference, self.reason = judgement.difference, judgement.reason

    @property
    def absolute(self) -> bool:
        return METRICS[self.metric].absolute

    @property
    def change(self) -> float | None:
        return None if self.ratio is None else self.ratio - 1

    @property
    def gated(self) -> bool:
        """Whether this metric can fail the gate here: latency only in open loop."""
        latency = METRICS[self.metric].percentile is not None
        return self.metric in GATED and not (self.closed_loop and latency)

    @property
    def size(self) -> float | None:
        """How far apart the medians are, in the unit of the threshold."""
        if self.absolute:
            return None if self.difference is None else abs(self.difference)
        return None if self.change is None else abs(self.change)

    @property
    def worse_direction(self) -> bool:
        d = self.difference
        return d is not None and d != 0 and (d > 0) != METRICS[self.metric].higher_is_better

    @property
    def in_family(self) -> bool:
        """Whether this test counts in the gate's Holm-Bonferroni family: a gated metric,
        judged, whose repeats are not all one value. Nothing here looks at which side is
        better: a family picked by the direction or size of the changes would let noise
        through (the smallest p among many, uncorrected)."""
        return (
            self.gated
            and self.p is not None
            and self.verdict != significance.NOT_JUDGED
            and len({*self.base, *self.new}) > 1
        )

    def past_fail_threshold(self, fail_threshold: float) -> bool:
        """Worse by the fail threshold (loss: its own threshold) and the report's, or more."""
        limit = self.threshold if self.absolute else max(self.threshold, fail_threshold)
        size = self.size
        return self.worse_direction and size is not None and size >= limit

    @property
    def holm_rejected(self) -> bool:
        """Worse, and still significant after Holm-Bonferroni: demoted otherwise."""
        return self.p_holm is not None and self.p_holm < self.alpha

    def regressed(self, fail_threshold: float) -> bool:
        if self.verdict == significance.FAILED:
            return self.gated
        return (
            self.verdict == significance.WORSE
            and self.in_family
            and self.past_fail_threshold(fail_threshold)
            and self.holm_rejected
        )


@dataclass
class Comparison:
    base_path: str
    new_path: str
    threshold: float
    fail_threshold: float
    changes: list[Change]
    only_base: list[str]
    only_new: list[str]
    forced: str | None = None
    notes: list[str] = field(default_factory=list)
    loss_threshold: float = DEFAULT_LOSS_THRESHOLD
    loss_bound: float = stats.LOSS_BOUND
    # Churn points: each counter's verdict, base against new (flat -> leak regresses).
    leaks: list[LeakChange] = field(default_factory=list)

    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regressed(self.fail_threshold)]

    def leak_regressions(self) -> list[LeakChange]:
        return [c for c in self.leaks if c.regressed]

    def family(self) -> list[Change]:
        """The gated tests: Holm-Bonferroni's family."""
        return [c for c in self.changes if c.in_family]

    def adjust(self) -> None:
        """Holm-Bonferroni over the family: each member's adjusted p, ``p_holm``."""
        family = self.family()
        adjusted = significance.holm([c.p for c in family if c.p is not None])
        for change in self.changes:
            change.p_holm = None
        for change, p in zip(family, adjusted, strict=True):
            change.p_holm = p

    def sample_sizes(self) -> list[tuple[int, int]]:
        """The distinct (base, new) repeat counts of the judged tests, fewest first."""
        return sorted({(len(c.base), len(c.new)) for c in self.changes if c.p is not None})

    def throughput_geomean(self) -> tuple[float | None, int]:
        ratios = [
            c.ratio
            for c in self.changes
            if c.metric == "delivered_per_s"
            and c.ratio is not None
            and math.isfinite(c.ratio)
            and c.ratio > 0
        ]
        return stats.geometric_mean(ratios), len(ratios)

    def unjudged(self) -> list[str]:
        """The points whose base has no successful repeat (a failed point, or a site
        that cannot serve the scenario): nothing to hold the new side against."""
        return [c.point for c in self.changes if c.metric == "delivered_per_s" and not c.base]

    @property
    def exit_code(self) -> ExitCode:
        """A regression first; else a leak (a counter flat in base leaks in new: its own
        code, so CI tells "slower" from "keeps memory"); else, a point the gate cannot
        vouch for."""
        if self.regressions():
            return ExitCode.REGRESSION
        if self.leak_regressions():
            return ExitCode.LEAK
        return ExitCode.NOT_JUDGED if self.unjudged() else ExitCode.OK


def _labels(points: Sequence[PointResult]) -> list[str]:
    """Short point names: the consumer and the keys that differ between the points."""
    varying = varying_keys([p.point for p in points], exclude=("consumer",)) or ["clients"]
    return [
        " ".join([p.point.consumer, *(f"{k}={p.point.value(k)}" for k in varying)]) for p in points
    ]


def compare(
    base: Run,
    new: Run,
    *,
    base_path: str = "base",
    new_path: str = "new",
    threshold: float = DEFAULT_THRESHOLD,
    fail_threshold: float | None = None,
    loss_threshold: float = DEFAULT_LOSS_THRESHOLD,
    loss_bound: float = stats.LOSS_BOUND,
    force: bool = False,
) -> Comparison:
    """Compare two results read by ``store.read``; raise ``UserError`` when they cannot be."""
    reason = incompatibility(base, new)
    if reason and not force:
        also = ""
        if "versions" in reason:
            also = (
                ", or measure both versions in one run as environments ([envs.NAME] or "
                "--env NAME=PATH) and compare them with --between env=A,B"
            )
        raise UserError(
            f"{reason}; numbers from different setups do not compare "
            f"(pass --force to compare anyway{also})"
        )
    pairs, only_base, only_new = match_points(base, new)
    if not pairs:
        differ = _differing_keys(base.points[0], new.points[0])
        hint = f" (they differ in {', '.join(differ)})" if differ else ""
        raise UserError(
            f"no point of {new_path} matches a point of {base_path}{hint}: "
            "compare runs of the same scenario"
        )
    labels = _labels([b for b, _ in pairs])
    changes = [
        Change(
            label,
            metric,
            b.values(metric),
            n.values(metric),
            loss_threshold if METRICS[metric].absolute else threshold,
            losses={"base": b.values("loss_ratio"), "new": n.values("loss_ratio")},
            loss_bound=loss_bound,
            closed_loop=b.point.mode == "closed",
        )
        for label, (b, n) in zip(labels, pairs, strict=True)
        for metric in COMPARED
    ]
    comparison = Comparison(
        base_path,
        new_path,
        threshold,
        threshold if fail_threshold is None else fail_threshold,
        changes,
        only_base=[p.label or p.id for p in only_base],
        only_new=[p.label or p.id for p in only_new],
        forced=reason,
        loss_threshold=loss_threshold,
        loss_bound=loss_bound,
    )
    comparison.adjust()
    comparison.leaks = leak_changes(pairs, labels)
    comparison.notes += staircase_notes(pairs, labels)
    for label, (b, n) in zip(labels, pairs, strict=True):
        reason = next((c.reason for c in changes if c.point == label and c.reason), None)
        if reason is not None:
            delivered = [stats.median(p.values("p99_delivered_ms")) for p in (b, n)]
            comparison.notes.append(
                f"{label}: latency not judged: {reason}; the p99 of the delivered messages "
                f"alone, for what it is worth: {ms(delivered[0])} ms (base), "
                f"{ms(delivered[1])} ms (new)"
            )
    comparison.notes += version_notes(base, new)
    for name, result in (("base", base), ("new", new)):
        if result.partial:
            comparison.notes.append(f"{name} is a partial result (the run was interrupted)")
    return comparison


def version_notes(base: Run, new: Run) -> list[str]:
    """What the two sides' servers ran, where each side's points agree on it: the
    versions that differ, or, for two interpreters (two environments) that resolved
    alike, that none do."""
    found = []
    for run in (base, new):
        side = {repr(sorted(p.versions().items())): p for p in run.points if p.software}
        if len(side) != 1:
            return []
        found.append(next(iter(side.values())))
    was, now = (p.versions() for p in found)
    names = dict.fromkeys([*was, *now])
    diffs = [
        f"{k} {was.get(k, '-')} -> {now.get(k, '-')}" for k in names if was.get(k) != now.get(k)
    ]
    if diffs:
        return [f"the servers ran different versions: {', '.join(diffs)}"]
    if len({p.software.executable for p in found if p.software}) == 1:
        return []  # one interpreter: nothing to say
    same = ", ".join(f"{k} {v}" for k, v in was.items())
    return [
        f"the servers ran the same versions from two interpreters ({same}): what differs "
        "between them is not these packages"
    ]
