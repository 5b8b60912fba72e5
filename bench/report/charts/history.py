"""The history page's charts: one metric of one point over a range of commits, each
commit's median with its repeats' range, and the change points marked."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.report.charts import style
from bench.report.layout import Chart
from bench.results.metrics import METRICS

if TYPE_CHECKING:
    from bench.bisect.history import History


def history_chart(history: History, point: str, metric: str, out_dir: Path) -> Chart:
    """``metric`` at ``point`` along ``history``'s commits (``History.levels``): a
    confirmed change point as a red line before its commit, one its A/B measurement did
    not bear out as a grey one."""
    facts = METRICS[metric]
    levels = history.levels(point, metric)
    xs = [i for i, value in enumerate(levels) if value]
    width = max(6.4, 0.25 * len(history.commits) + 2)
    fig, ax = style.figure()
    fig.set_size_inches(width, style.FIGSIZE_IN[1])
    color = style.CONSUMER_COLORS.get(point.split()[0], "tab:green")
    ax.plot(xs, [levels[i] for i in xs], marker="o", color=color, label=point)
    for found in history.change_points:
        if found.point != point:
            continue
        at = history.commits.index(found.after) - 0.5
        ax.axvline(at, color="tab:red" if found.confirmed else "0.6", linestyle="--")
    ax.set_xticks(range(len(history.commits)))
    ax.set_xticklabels([c.sha[:7] for c in history.commits], rotation=90, fontsize="x-small")
    ax.set_ylabel(facts.description)
    ax.set_ylim(bottom=0)
    ax.set_title(f"{point}: {facts.label} by commit")
    style.note(
        fig,
        "each commit's median in its block, chained through the commit blocks share; "
        "red: a confirmed change, grey: a candidate its A/B did not confirm",
    )
    name = style.slug(f"history-{point}-{metric}")
    style.save(fig, out_dir, name)
    return Chart(name, f"{point}: {facts.label}", f"{facts.description} by commit, {point}")
