"""A comparison as text: the terminal table, Markdown for a CI comment, the legend that
says how to read them, and the summary lines (geometric mean, uncertain changes,
regressions). ``compare`` decides; this module only words it."""

from __future__ import annotations

import math
import textwrap

from bench.judge import leak_compare, significance
from bench.judge.compare import (
    Change,
    Comparison,
)
from bench.report.tables import render
from bench.results.metrics import METRICS
from bench.results.units import LOST


def _ratio(change: Change) -> str:
    if change.ratio is None or change.absolute or change.verdict == significance.NOT_JUDGED:
        return "-"
    if math.isinf(change.ratio) or math.isnan(change.ratio):
        return "-"
    return f"{change.ratio:.2f}x"


def _pct(change: Change) -> str:
    if change.absolute:
        d = change.difference
        return "-" if d is None or not math.isfinite(d) else f"{100 * d:+.2f} pp"
    c = change.change
    if c is None or change.verdict == significance.NOT_JUDGED or math.isnan(c):
        return "-"
    return "+inf" if math.isinf(c) else f"{c:+.1%}"


def _p(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def verdict_text(change: Change, comparison: Comparison) -> str:
    verdict = change.verdict
    if change.regressed(comparison.fail_threshold):
        return f"{verdict.upper()} (fails)"
    if verdict == significance.UNCERTAIN:
        return f"uncertain ({len(change.base)} vs {len(change.new)} repeats)"
    if verdict == significance.NOT_JUDGED:
        return f"not judged (loss > {comparison.loss_bound:.2%})"
    if verdict == significance.WORSE and change.p_holm is not None and not change.holm_rejected:
        return "not significant (Holm)"
    if not change.gated and verdict in (significance.BETTER, significance.WORSE):
        return f"{verdict} (info)"
    return verdict


def table(comparison: Comparison, markdown: bool = False) -> str:
    headers = ["point", "metric", "base", "new", "ratio", "change", "p", "p Holm", "verdict"]
    rows = [
        [
            c.point,
            METRICS[c.metric].label,
            METRICS[c.metric].format(c.base_median),
            METRICS[c.metric].format(c.new_median),
            _ratio(c),
            _pct(c),
            _p(c.p),
            _p(c.p_holm),
            verdict_text(c, comparison),
        ]
        for c in comparison.changes
    ]
    return render(headers, rows, markdown)


def _sizes(comparison: Comparison) -> str:
    """``0.0079 for 5 vs 5 repeats``: the smallest p each sample size can reach."""
    return ", ".join(
        f"{significance.mann_whitney_min_p(n, m):.2g} for {n} vs {m} repeats"
        for n, m in comparison.sample_sizes()
    )


def legend(comparison: Comparison) -> str:
    family = comparison.family()
    sizes = _sizes(comparison)
    return (
        "base, new: medians over repeats of each repeat's value; a latency is each "
        "repeat's percentile over every expected delivery, a lost message counting as "
        f"+inf ({LOST}: the percentile is a message that never arrived). ratio: new/base. "
        "p: two-sided Mann-Whitney U test over the repeats"
        + (f" (the smallest p it can reach: {sizes})" if sizes else "")
        + f". better/worse: a change of {comparison.threshold:.0%} or more (loss: "
        f"{100 * comparison.loss_threshold:.2g} percentage points or more) with p < "
        f"{significance.SIGNIFICANCE_ALPHA:g}; uncertain: past the threshold with no overlap, but "
        "too few repeats for the test ever to reach it. "
        f"p Holm: Holm-Bonferroni adjusted over the {len(family)} gated test"
        f"{'s' if len(family) != 1 else ''} (throughput and loss, and latency in open loop: "
        "in closed loop latency follows from throughput; a test whose repeats are all one "
        "value is left out); a change fails the gate when it is worse by "
        f"{comparison.fail_threshold:.0%} or more (loss: "
        f"{100 * comparison.loss_threshold:.2g} points) and its p Holm is below "
        f"{significance.SIGNIFICANCE_ALPHA:g}. Latency is not judged where a repeat of "
        f"either side lost more than {comparison.loss_bound:.2%}. threads and cpu % are "
        "informational: they never fail the gate."
    )


def needed_repeats(family_size: int, alpha: float = significance.SIGNIFICANCE_ALPHA) -> int:
    """The fewest repeats a side with which one test can pass Holm's first step, p below
    alpha / ``family_size``."""
    n = 1
    while significance.mann_whitney_min_p(n, n) * max(1, family_size) >= alpha:
        n += 1
    return n


def summary_lines(comparison: Comparison) -> list[str]:
    lines = []
    geo, count = comparison.throughput_geomean()
    if geo is not None:
        lines.append(
            f"geometric mean of delivered/s, new/base, over {count} point"
            f"{'s' if count != 1 else ''}: {geo:.2f}x"
        )
    uncertain = [c for c in comparison.changes if c.verdict == significance.UNCERTAIN]
    if uncertain:
        reps = sorted({f"{len(c.base)} vs {len(c.new)}" for c in uncertain})
        min_p = max(significance.mann_whitney_min_p(len(c.base), len(c.new)) for c in uncertain)
        lines.append(
            f"{len(uncertain)} change{'s' if len(uncertain) != 1 else ''} past the "
            f"threshold with no overlap, but {' and '.join(reps)} repeats cannot reach "
            f"p < {significance.SIGNIFICANCE_ALPHA:g} (the smallest possible p is "
            f"{min_p:.2g}); rerun both with --set repeats={needed_repeats(1)} for a verdict"
        )
    family = comparison.family()
    if family:
        alpha = significance.SIGNIFICANCE_ALPHA
        least = min(significance.mann_whitney_min_p(len(c.base), len(c.new)) for c in family)
        if least * len(family) >= alpha:
            lines.append(
                f"{len(family)} gated test{'s' if len(family) != 1 else ''}, "
                f"but the smallest p the repeats can reach ({least:.2g}) is not below "
                f"{alpha:g}/{len(family)} = {alpha / len(family):.2g}, which Holm-Bonferroni "
                "asks of the first: none can fail on significance; rerun both with "
                f"--set repeats={needed_repeats(len(family))} for a verdict"
            )
        demoted = [c for c in family if c.verdict == significance.WORSE and not c.holm_rejected]
        if demoted:
            lines.append(
                f"{len(demoted)} worse change{'s' if len(demoted) != 1 else ''} with p < "
                f"{alpha:g} alone, not significant over the {len(family)} gated tests "
                "(Holm-Bonferroni): "
                + ", ".join(f"{c.point} {METRICS[c.metric].label} (p {_p(c.p)})" for c in demoted)
            )
    if comparison.only_base:
        lines.append(f"only in base (not compared): {', '.join(comparison.only_base)}")
    if comparison.only_new:
        lines.append(f"only in new (not compared): {', '.join(comparison.only_new)}")
    lines += comparison.notes
    lines += leak_compare.lines(comparison.leaks)
    if comparison.forced:
        lines.append(f"warning: {comparison.forced}; compared anyway (--force)")
    regressions = comparison.regressions()
    if regressions:
        worst = ", ".join(f"{c.point} {METRICS[c.metric].label} {_pct(c)}" for c in regressions)
        lines.append(
            f"REGRESSION: {len(regressions)} change{'s' if len(regressions) != 1 else ''}"
            f" worse by {comparison.fail_threshold:.0%} (loss: "
            f"{100 * comparison.loss_threshold:.2g} points) or more: {worst}"
        )
    leaks = comparison.leak_regressions()
    if leaks:
        lines.append(
            f"REGRESSION: {len(leaks)} counter{'s' if len(leaks) != 1 else ''} flat in base "
            f"and leaking in new: {', '.join(f'{c.point} {c.metric}' for c in leaks)}"
        )
    if regressions or leaks:
        return lines
    if comparison.unjudged():
        lines.append(
            f"NOT JUDGED: base has no measurement of {', '.join(comparison.unjudged())} "
            "(its repeats failed; see base's reasons): nothing to compare new with"
        )
    else:
        lines.append(
            f"no regression past {comparison.fail_threshold:.0%} (loss: "
            f"{100 * comparison.loss_threshold:.2g} points)"
        )
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
    failed = comparison.regressions() or comparison.leak_regressions()
    status = "regression" if failed else "no regression"
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
