"""The charts along the key that varies: throughput, latency, threads and CPU, a line per
consumer (and layer, and result file when several are overlaid), medians with min-max bars."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.ticker import FixedLocator, NullLocator
from matplotlib.transforms import blended_transform_factory

from bench.report.charts.style import (
    PER_REPEAT_NOTE,
    Styler,
    figure,
    integer_y,
    log_y,
    note,
    save,
)
from bench.report.layout import (
    X_LABELS,
    Chart,
    Layout,
    median_range,
    scenario_names,
    server_name,
)
from bench.results.metrics import METRICS
from bench.results.units import LOST

MAX_LEGEND_LINES = 12


def _x_axis(ax: Any, lay: Layout) -> Callable[[Any], Any]:
    """Set up the x axis; return the function that places an x value on it."""
    values = lay.x_values()
    numeric = values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    ax.set_xlabel(X_LABELS.get(lay.x_key, lay.x_key))
    if numeric:
        positive = [v for v in values if v > 0]
        if len(positive) == len(values) and len(values) > 1 and max(values) / min(values) >= 10:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(FixedLocator(values))
            ax.xaxis.set_minor_locator(NullLocator())
        else:
            ax.set_xticks(values)
        ax.set_xticklabels([f"{v:g}" for v in values])
        return lambda v: v
    positions = {v: i for i, v in enumerate(values)}
    ax.set_xticks(range(len(values)))
    labels = [str(v) for v in values]
    # Names side by side run into each other past a few characters: slant them.
    slant = sum(len(label) for label in labels) > 40
    ax.set_xticklabels(labels, rotation=25 if slant else 0, ha="right" if slant else "center")
    return lambda v: positions[v]


def _plot_metric(ax: Any, lay: Layout, styler: Styler, metric: str) -> bool:
    """Median and min-max bars of ``metric`` along x, one line per Line; False if no data.

    A lost latency (+inf: the percentile is a message that never arrived) has no place on
    the axis: a median that is lost is a triangle at the top, and a bar whose maximum is
    lost stops at the highest finite repeat, with a triangle above it too."""
    place = _x_axis(ax, lay)
    top = blended_transform_factory(ax.transData, ax.transAxes)
    drawn = False
    for line in lay.lines:
        xs, meds, lows, highs, lost = [], [], [], [], []
        for x, point in sorted(line.points, key=lambda xp: place(xp[0])):
            summary = median_range(point, metric)
            if summary is None:
                continue
            med, low, high = summary
            if math.isinf(high):
                lost.append(place(x))
            if math.isinf(med):
                continue
            finite = [v for v in point.values(metric) if math.isfinite(v)]
            xs.append(place(x))
            meds.append(med)
            lows.append(med - low)
            highs.append(max(finite) - med)
        style = styler(line)
        if xs:
            ax.errorbar(
                xs,
                meds,
                yerr=[lows, highs],
                capsize=3,
                markersize=5,
                label=line.label(lay.multi_source),
                **style,
            )
        if lost:
            ax.plot(
                lost,
                [0.97] * len(lost),
                transform=top,
                marker="^",
                linestyle="none",
                color=style["color"],
                markersize=7,
                clip_on=False,
                label=None if xs else line.label(lay.multi_source),
            )
        drawn = drawn or bool(xs or lost)
    # Past a dozen lines a legend fills the chart: the report's tables name them.
    if drawn and len(lay.lines) <= MAX_LEGEND_LINES:
        ax.legend(loc="best")
    return drawn


# Where chanbench's consumers run their handlers (not said of a --target's server).
THREADS_NOTE = (
    "The sync consumer's handlers run in asgiref's one thread-sensitive worker thread "
    "(ASGI_THREADS does not size it); the async ones in the event loop, with one hop to "
    "that same thread per message on Channels 4.2+ (aclose_old_connections). "
)


def metric_charts(lay: Layout, out_dir: Path) -> list[Chart]:
    """Throughput, latency, threads and CPU against the x key."""
    charts: list[Chart] = []
    styler = Styler(lay.lines)
    title = scenario_names(lay.sources)
    xname = X_LABELS.get(lay.x_key, lay.x_key).split(" (")[0]
    server = server_name(lay.sources)

    def single(metric: str, name: str, heading: str, caption: str) -> None:
        fig, ax = figure()
        if not _plot_metric(ax, lay, styler, metric):
            plt.close(fig)
            return
        ax.set_ylabel(METRICS[metric].description)
        ax.set_ylim(bottom=0)
        if metric == "threads":
            integer_y(ax)
        ax.set_title(f"{title}: {heading}")
        save(fig, out_dir, name)
        charts.append(Chart(name, heading[0].upper() + heading[1:], caption))

    single(
        "delivered_per_s",
        "throughput",
        "throughput",
        f"Messages delivered to clients per second in the measured window, against {xname}. "
        "Higher is better.",
    )

    fig, axes = figure(1, 2, sharey=True)
    drawn = False
    for ax, metric, name in ((axes[0], "p50_ms", "p50"), (axes[1], "p99_ms", "p99")):
        if _plot_metric(ax, lay, styler, metric):
            drawn = True
            log_y(ax)
            ax.set_title(f"{name} latency")
    if drawn:
        if axes[0].get_legend() is not None:  # one legend for both: the lines are the same
            axes[0].get_legend().remove()
        axes[0].set_ylabel("latency (ms, log scale)")
        fig.suptitle(f"{title}: latency")
        note(fig, PER_REPEAT_NOTE)
        save(fig, out_dir, "latency")
        charts.append(
            Chart(
                "latency",
                "Latency",
                "Median (p50) and 99th percentile (p99) time from a client sending a "
                "message to each room member receiving it, log scale. Lower is better. "
                "p50, p99: median over repeats of each repeat's percentile, every expected "
                f"delivery counted (a lost message is +inf; a triangle at the top: {LOST}).",
            )
        )
    else:
        plt.close(fig)

    single(
        "threads",
        "threads",
        METRICS["threads"].description,
        f"Peak thread count of {server} in the measured window. "
        + ("" if all(s.run.target for s in lay.sources) else THREADS_NOTE)
        + "Per-thread CPU is in the result file.",
    )
    single(
        "cpu_percent",
        "cpu",
        METRICS["cpu_percent"].description,
        f"Mean CPU of {server} in the measured window; 100% is one full core.",
    )
    return charts
