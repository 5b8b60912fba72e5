"""The churn charts: each counter of a churn point over its cycles, with the fitted
Theil-Sen line and the band its 95% interval spans, warm-up cycles in grey; and each
staircase's RSS against the idle connections held, with its fit and band."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from bench.report.charts.style import figure, note, save, slug
from bench.report.churn import churns, staircases, verdict_text
from bench.report.layout import Chart, Layout
from bench.results.churn import COUNTERS, Churn, Verdict

# Counters drawn per point, at most: those that leak first, then the registry's order.
MAX_PANELS = 6
COLUMNS = 2
PANEL_HEIGHT_IN = 2.2
UNIT_SCALE = {"bytes": (1024 * 1024, "MiB")}


def _panel(ax: Any, churn: Churn, verdict: Verdict) -> None:
    counter = COUNTERS[verdict.metric]
    scale, unit = UNIT_SCALE.get(counter.unit, (1, counter.unit))
    points = [(i, v) for i, v in enumerate(churn.series(verdict.metric)) if v is not None]
    warm = [(i, v / scale) for i, v in points if i < churn.warmup_cycles]
    judged = [(i, v / scale) for i, v in points if i >= churn.warmup_cycles]
    if warm:
        ax.plot(*zip(*warm, strict=True), "o", color="#aaa", label="warm-up")
    if judged:
        ax.plot(*zip(*judged, strict=True), "o", color="tab:blue", label=churn.step)
    slope = verdict.slope_per_cycle
    if judged and slope is not None and math.isfinite(slope):
        xs = [i for i, _ in judged]
        # Theil-Sen's intercept: the median of y - slope * x.
        intercept = statistics.median(v - slope / scale * i for i, v in judged)
        ends = (xs[0], xs[-1])
        ax.plot(ends, [intercept + slope / scale * x for x in ends], color="tab:red")
        if verdict.ci_low is not None and verdict.ci_high is not None:
            mid = statistics.median(xs)
            y_mid = intercept + slope / scale * mid
            low = [y_mid + verdict.ci_low / scale * (x - mid) for x in ends]
            high = [y_mid + verdict.ci_high / scale * (x - mid) for x in ends]
            ax.fill_between(ends, low, high, color="tab:red", alpha=0.15, linewidth=0)
    ax.set_title(f"{counter.label}: {verdict_text(verdict, churn.step)}", fontsize="small")
    ax.set_ylabel(unit, fontsize="x-small")
    ax.tick_params(labelsize="x-small")


def churn_charts(lay: Layout, out_dir: Path) -> list[Chart]:
    """One chart per churn point: a panel per counter judged."""
    charts = []
    for source in lay.sources:
        for point, churn in churns(source.run):
            # What leaks first, then the rest in the registry's order (memory first).
            ranked = sorted(churn.verdicts, key=lambda v: v.verdict != "leak")
            verdicts = ranked[:MAX_PANELS]
            if not verdicts:
                continue
            rows = math.ceil(len(verdicts) / COLUMNS)
            fig, axes = figure(rows, COLUMNS, height_in=PANEL_HEIGHT_IN * rows, squeeze=False)
            for n, verdict in enumerate(verdicts):
                _panel(axes[n // COLUMNS][n % COLUMNS], churn, verdict)
            for n in range(len(verdicts), rows * COLUMNS):
                axes[n // COLUMNS][n % COLUMNS].set_visible(False)
            fig.supxlabel(churn.step, fontsize="small")
            note(fig, "red: Theil-Sen fit; band: its 95% interval on the slope; grey: warm-up")
            prefix = f"churn-{source.label}-" if lay.multi_source else "churn-"
            name = slug(prefix + point.label)
            save(fig, out_dir, name)
            charts.append(
                Chart(
                    name,
                    f"{churn.kind.capitalize()}: {point.label}, each counter over the "
                    f"{churn.step}s",
                    f"Each counter read at every {churn.step}, with its fitted slope and interval.",
                )
            )
    return charts


def staircase_charts(lay: Layout, out_dir: Path) -> list[Chart]:
    """One chart per staircase point: RSS against the idle connections held."""
    charts = []
    for source in lay.sources:
        for point, stairs in staircases(source.run):
            held = [
                (s.connections, s.counters["rss_bytes"])
                for s in stairs.steps
                if "rss_bytes" in s.counters
            ]
            if not held:
                continue
            fig, ax = figure()
            xs = [n for n, _ in held]
            ax.plot(xs, [v / 2**20 for _, v in held], "o", color="tab:blue", label="step")
            per = stairs.rss_per_connection
            if per is not None and len(xs) > 1:
                intercept = statistics.median(v - per * n for n, v in held)
                ends = (min(xs), max(xs))
                line = [(intercept + per * x) / 2**20 for x in ends]
                ax.plot(ends, line, color="tab:red", label=f"{per / 1024:,.1f} KiB each")
                if stairs.ci_low is not None and stairs.ci_high is not None:
                    mid = statistics.median(xs)
                    y_mid = intercept + per * mid
                    low = [(y_mid + stairs.ci_low * (x - mid)) / 2**20 for x in ends]
                    high = [(y_mid + stairs.ci_high * (x - mid)) / 2**20 for x in ends]
                    ax.fill_between(ends, low, high, color="tab:red", alpha=0.15, linewidth=0)
            ax.set_xlabel("idle connections held")
            ax.set_ylabel("server RSS (MiB)")
            ax.legend(fontsize="small")
            note(fig, "red: Theil-Sen fit; band: its 95% interval on the slope")
            prefix = f"staircase-{source.label}-" if lay.multi_source else "staircase-"
            name = slug(prefix + point.label)
            save(fig, out_dir, name)
            charts.append(
                Chart(
                    name,
                    f"Idle connections: {point.label}, server RSS at each step",
                    "Memory of the server's whole tree against the idle connections held.",
                )
            )
    return charts
