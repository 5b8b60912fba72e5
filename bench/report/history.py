"""The history page: a range of commits measured, its charts (one per metric and point),
the change points with the A/B that confirmed them or not, and every commit with its
subject and medians; ``index.html`` and ``README.md`` from the same blocks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.bisect.measure import describe
from bench.judge import stats
from bench.report import render
from bench.report.blocks import Block, Figure, Heading, Items, Paragraph, Table
from bench.report.charts.history import history_chart
from bench.results import store
from bench.results.metrics import METRICS

if TYPE_CHECKING:
    from bench.bisect.history import History

# Charted besides the metric the change points are found in.
ALSO_CHARTED = ("delivered_per_s", "p99_ms")


def write_page(history: History, out_dir: Path, title: str, how: str) -> Path:
    """Charts, ``index.html`` and ``README.md`` in ``out_dir``; the index's path."""
    store.make_dir(out_dir)
    metrics = list(dict.fromkeys([history.metric, *ALSO_CHARTED]))
    blocks: list[Block] = [Heading(1, title), Paragraph(how)]
    blocks += [Heading(2, "Change points")]
    if history.change_points:
        blocks.append(
            Items(
                [
                    f"{c.after} ({c.point}, against {c.before.short}): "
                    f"{describe(c.change) if c.change else '-'}; "
                    f"{'confirmed' if c.confirmed else 'not confirmed by its A/B'}"
                    for c in history.change_points
                ]
            )
        )
    else:
        blocks.append(Paragraph(f"None: no step of {history.metric} past the threshold."))
    blocks.append(Heading(2, "Charts"))
    for point in history.points():
        for metric in metrics:
            blocks.append(Figure(history_chart(history, point, metric, out_dir)))
    blocks += [Heading(2, "Commits"), commits_table(history)]
    index = out_dir / "index.html"
    store.write_text(index, render.html_page(blocks, title))
    store.write_text(out_dir / "README.md", render.markdown(blocks))
    return index


def commits_table(history: History) -> Table:
    """A row per commit: its sha, subject, the median of the metric at each point, and
    the change points that start there."""
    points = history.points()
    facts = METRICS[history.metric]
    starts = {
        c.after.sha: "confirmed" if c.confirmed else "candidate" for c in history.change_points
    }
    rows = []
    for i, commit in enumerate(history.commits):
        cells = [commit.sha[:10], commit.subject[:80]]
        for point in points:
            cells.append(facts.format(stats.median(history.series(point, history.metric)[i])))
        rows.append([*cells, starts.get(commit.sha, "")])
    return Table(["commit", "subject", *(f"{p} {facts.label}" for p in points), "step"], rows)
