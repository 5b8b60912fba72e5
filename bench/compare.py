"""Compare two results: did the change make anything better or worse, and for sure?

Points are matched by their params (all but ``repeats``). For each matched point and
metric the change is the ratio of the medians over repeats, new/base, and the verdict is
``stats.judge``'s, the rule reports use too (asv's): a change is "better" or "worse" only
when it is at least the threshold (default 10% of the base) AND a two-sided Mann-Whitney
U test on the repeats' values says the samples differ (p < ``stats.SIGNIFICANCE_ALPHA``). Otherwise:

- "uncertain": past the threshold, every repeat of one side beyond every repeat of the
  other, but too few repeats for the test ever to reach p < 0.05 (2 against 2 can only
  reach 0.33, 3 against 3 0.1; 4 against 4 reaches 0.029). asv marks these as uncertain
  too. They never fail the gate: rerun with more repeats for a verdict.
- "not significant": under the threshold, or the samples overlap.
- "failed": the base point measured something and the new one has no successful repeat.

The gate (exit 1) fails on a "worse" throughput, latency or loss change at least the
fail threshold, or a "failed" point. Threads and CPU are compared but never fail it:
CPU rises with throughput, so a faster server doing more work would read as a regression.
"""

from __future__ import annotations

import argparse
import json
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import stats
from bench.errors import UserError
from bench.results import METRICS, PointResult, Run, varying_keys
from bench.stats import DEFAULT_THRESHOLD
from bench.tables import num, render

COMPARED = ("delivered_per_s", "p50_ms", "p99_ms", "threads", "cpu_percent", "loss_ratio")
GATED = ("delivered_per_s", "p50_ms", "p99_ms", "loss_ratio")
NAMES = {
    "delivered_per_s": "delivered/s",
    "p50_ms": "p50 ms",
    "p99_ms": "p99 ms",
    "threads": "threads",
    "cpu_percent": "cpu %",
    "loss_ratio": "loss",
}
FORMATS = {
    "delivered_per_s": ",.0f",
    "p50_ms": ".1f",
    "p99_ms": ".1f",
    "threads": ".0f",
    "cpu_percent": ".0f",
    "loss_ratio": ".2%",
}
# Two results must come from the same machine to be compared.
MACHINE_KEYS = ("host", "cpu_model", "cpu_count")
NOT_MATCHED = ("repeats",)

EXIT_OK = 0
EXIT_REGRESSION = 1


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


def incompatibility(base: Run, new: Run) -> str | None:
    """Why ``base`` and ``new`` should not be compared, in one line, or None."""
    eb, en = base.environment, new.environment
    diffs = [
        f"{key} {eb.get(key)!r} vs {en.get(key)!r}"
        for key in MACHINE_KEYS
        if eb.get(key) != en.get(key)
    ]
    if diffs:
        return f"base and new ran on different machines ({', '.join(diffs)})"
    pb, pn = eb.get("packages") or {}, en.get("packages") or {}
    diffs = [
        f"{name} {pb.get(name, 'missing')} vs {pn.get(name, 'missing')}"
        for name in sorted(set(pb) | set(pn))
        if pb.get(name) != pn.get(name)
    ]
    if eb.get("python") != en.get("python"):
        diffs.insert(0, f"python {eb.get('python')} vs {en.get('python')}")
    if diffs:
        return f"base and new ran with different versions ({', '.join(diffs)})"
    return None


def _match_key(params: dict[str, Any], keys: Sequence[str]) -> str:
    # 10 and 10.0 are one value; JSON keeps whichever the scenario wrote.
    def norm(v: Any) -> Any:
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v

    return json.dumps({k: norm(params.get(k)) for k in keys}, sort_keys=True)


def match_points(
    base: Run, new: Run
) -> tuple[list[tuple[PointResult, PointResult]], list[PointResult], list[PointResult]]:
    """(base, new) pairs with equal params, then the points only in base, only in new.

    Params that only one result has (a key added to chanbench between the two runs) are
    left out of the match, so an older result still matches at the new key's default.
    """
    bp, np_ = base.points, new.points
    keys_b = set.intersection(*(set(p.params) for p in bp))
    keys_n = set.intersection(*(set(p.params) for p in np_))
    keys = sorted((keys_b & keys_n) - set(NOT_MATCHED))
    new_by_key: dict[str, PointResult] = {}
    for point in np_:
        new_by_key.setdefault(_match_key(point.params, keys), point)
    pairs, only_base = [], []
    matched: set[int] = set()
    for point in bp:
        other = new_by_key.get(_match_key(point.params, keys))
        if other is None or id(other) in matched:
            only_base.append(point)
        else:
            matched.add(id(other))
            pairs.append((point, other))
    only_new = [p for p in np_ if id(p) not in matched]
    return pairs, only_base, only_new


def _differing_params(a: PointResult, b: PointResult) -> list[str]:
    pa, pb = a.params, b.params
    return [k for k in sorted(set(pa) & set(pb)) if k not in NOT_MATCHED and pa[k] != pb[k]]


@dataclass
class Change:
    """One metric of one matched point, base against new."""

    point: str
    metric: str
    base: list[float]
    new: list[float]
    threshold: float
    alpha: float = stats.SIGNIFICANCE_ALPHA
    base_median: float | None = field(init=False)
    new_median: float | None = field(init=False)
    ratio: float | None = field(init=False)
    p: float | None = field(init=False)
    verdict: str = field(init=False)

    def __post_init__(self) -> None:
        self.base_median = stats.median(self.base)
        self.new_median = stats.median(self.new)
        judgement = stats.judge(
            self.base,
            self.new,
            higher_is_better=METRICS[self.metric].higher_is_better,
            threshold=self.threshold,
            alpha=self.alpha,
        )
        self.ratio, self.p, self.verdict = judgement.ratio, judgement.p, judgement.verdict

    @property
    def change(self) -> float | None:
        return None if self.ratio is None else self.ratio - 1

    @property
    def gated(self) -> bool:
        return self.metric in GATED

    def regressed(self, fail_threshold: float) -> bool:
        if self.verdict == stats.FAILED:
            return self.gated
        return (
            self.verdict == stats.WORSE
            and self.gated
            and self.change is not None
            and abs(self.change) >= fail_threshold
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

    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regressed(self.fail_threshold)]

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

    @property
    def exit_code(self) -> int:
        return EXIT_REGRESSION if self.regressions() else EXIT_OK


def _labels(points: Sequence[PointResult]) -> list[str]:
    """Short point names: the consumer and the params that differ between the points."""
    varying = varying_keys([p.params for p in points], exclude=("consumer",)) or ["clients"]
    return [
        " ".join([str(p.params.get("consumer", "?")), *(f"{k}={p.params.get(k)}" for k in varying)])
        for p in points
    ]


def compare(
    base: Run,
    new: Run,
    *,
    base_path: str = "base",
    new_path: str = "new",
    threshold: float = DEFAULT_THRESHOLD,
    fail_threshold: float | None = None,
    force: bool = False,
) -> Comparison:
    """Compare two results read by ``store.read``; raise ``UserError`` when they cannot be."""
    reason = incompatibility(base, new)
    if reason and not force:
        raise UserError(
            f"{reason}; numbers from different setups do not compare "
            "(pass --force to compare anyway)"
        )
    pairs, only_base, only_new = match_points(base, new)
    if not pairs:
        differ = _differing_params(base.points[0], new.points[0])
        hint = f" (they differ in {', '.join(differ)})" if differ else ""
        raise UserError(
            f"no point of {new_path} matches a point of {base_path}{hint}: "
            "compare runs of the same scenario"
        )
    labels = _labels([b for b, _ in pairs])
    changes = [
        Change(label, metric, b.values(metric), n.values(metric), threshold)
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
    )
    for name, result in (("base", base), ("new", new)):
        if result.partial:
            comparison.notes.append(f"{name} is a partial result (the run was interrupted)")
    return comparison


# --- Output ----------------------------------------------------------------------------------


def _value(metric: str, value: float | None) -> str:
    return num(value, FORMATS[metric])


def _ratio(change: Change) -> str:
    if change.ratio is None:
        return "-"
    if math.isinf(change.ratio):
        return "new"
    return f"{change.ratio:.2f}x"


def _pct(change: Change) -> str:
    c = change.change
    if c is None:
        return "-"
    return "+inf" if math.isinf(c) else f"{c:+.1%}"


def table(comparison: Comparison, markdown: bool = False) -> str:
    headers = ["point", "metric", "base", "new", "ratio", "change", "p", "verdict"]
    rows = []
    failing = {id(c) for c in comparison.regressions()}
    for c in comparison.changes:
        verdict = c.verdict
        if verdict == stats.UNCERTAIN:
            verdict = f"uncertain ({len(c.base)} vs {len(c.new)} repeats)"
        if id(c) in failing:
            verdict = f"{verdict.upper()} (fails)"
        elif not c.gated and verdict in (stats.BETTER, stats.WORSE):
            verdict = f"{verdict} (info)"
        rows.append(
            [
                c.point,
                NAMES[c.metric],
                _value(c.metric, c.base_median),
                _value(c.metric, c.new_median),
                _ratio(c),
                _pct(c),
                "-" if c.p is None else f"{c.p:.3f}",
                verdict,
            ]
        )
    return render(headers, rows, markdown)


def legend(comparison: Comparison) -> str:
    return (
        f"ratio: new/base of the medians over repeats. p: two-sided Mann-Whitney U test "
        f"over the repeats. better/worse: a change of {comparison.threshold:.0%} or more "
        f"with p < {stats.SIGNIFICANCE_ALPHA:g}; uncertain: past the threshold with no "
        "overlap, but too few repeats for the test (4 per side are needed). "
        f"threads and cpu % are informational: they never fail the gate "
        f"({comparison.fail_threshold:.0%})."
    )


def summary_lines(comparison: Comparison) -> list[str]:
    lines = []
    geo, count = comparison.throughput_geomean()
    if geo is not None:
        lines.append(
            f"geometric mean of delivered/s, new/base, over {count} point"
            f"{'s' if count != 1 else ''}: {geo:.2f}x"
        )
    uncertain = [c for c in comparison.changes if c.verdict == stats.UNCERTAIN]
    if uncertain:
        reps = sorted({f"{len(c.base)} vs {len(c.new)}" for c in uncertain})
        min_p = max(stats.mann_whitney_min_p(len(c.base), len(c.new)) for c in uncertain)
        lines.append(
            f"{len(uncertain)} change{'s' if len(uncertain) != 1 else ''} past the "
            f"threshold with no overlap, but {' and '.join(reps)} repeats cannot reach "
            f"p < {stats.SIGNIFICANCE_ALPHA:g} (the smallest possible p is "
            f"{min_p:.2f}); rerun both with --set repeats=5 for a verdict"
        )
    if comparison.only_base:
        lines.append(f"only in base (not compared): {', '.join(comparison.only_base)}")
    if comparison.only_new:
        lines.append(f"only in new (not compared): {', '.join(comparison.only_new)}")
    lines += comparison.notes
    if comparison.forced:
        lines.append(f"warning: {comparison.forced}; compared anyway (--force)")
    regressions = comparison.regressions()
    if regressions:
        worst = ", ".join(f"{c.point} {NAMES[c.metric]} {_pct(c)}" for c in regressions)
        lines.append(
            f"REGRESSION: {len(regressions)} change{'s' if len(regressions) != 1 else ''}"
            f" worse by {comparison.fail_threshold:.0%} or more: {worst}"
        )
    else:
        lines.append(f"no regression past {comparison.fail_threshold:.0%}")
    return lines


def format_text(comparison: Comparison) -> str:
    return (
        "\n".join(
            [
                f"base: {comparison.base_path}",
                f"new:  {comparison.new_path}",
                "",
                table(comparison),
                "",
                textwrap.fill(legend(comparison), 100),
                "",
                *summary_lines(comparison),
            ]
        )
        + "\n"
    )


def format_markdown(comparison: Comparison) -> str:
    status = "regression" if comparison.regressions() else "no regression"
    return (
        "\n".join(
            [
                f"### chanbench compare: {status}",
                "",
                f"base: `{comparison.base_path}`  ",
                f"new: `{comparison.new_path}`",
                "",
                table(comparison, markdown=True),
                "",
                *(f"- {line}" for line in summary_lines(comparison)),
                "",
                f"<sub>{legend(comparison)}</sub>",
            ]
        )
        + "\n"
    )


def write_charts(base: Run, new: Run, out_dir: Path) -> list[str]:
    """Base and new overlaid on every report chart; returns the chart names."""
    from bench import report  # matplotlib only when charts are asked for

    charts = report.write_charts([report.Source("base", base), report.Source("new", new)], out_dir)
    return [c.name for c in charts]
