"""The charts of a report, PNG and SVG: the only module that imports matplotlib.

Every chart puts sync and async on the same axes, one line per consumer and layer (and
per result file when several are overlaid); a line's markers are the medians over the
repeats and its bars span the repeats' minimum to maximum: with a handful of repeats a
range says more than a standard deviation would. Each file is written atomically through
``store.atomic_path``, so a report being redrawn is never half a chart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window; must precede pyplot
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator
from matplotlib.transforms import blended_transform_factory

from bench import stats, store
from bench.report.layout import (
    X_LABELS,
    Chart,
    Layout,
    Line,
    Source,
    consumer_order,
    layout,
    median_range,
    param_values,
    scenario_names,
)
from bench.results import PointResult, Repeat
from bench.tables import LOST

# 640x400 pixels at 100 dpi: legible on a page, small enough to keep beside results.
DPI = 100
FIGSIZE_IN = (6.4, 4.0)
FORMATS = ("png", "svg")
# A consumer keeps its colour in every chart, so sync and async read the same everywhere.
CONSUMER_COLORS = {"sync": "tab:orange", "async": "tab:blue"}
OTHER_COLORS = ("tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")
# Which percentile a chart shows, printed under it: a PNG travels without its caption.
PER_REPEAT_NOTE = (
    "markers: median over repeats of each repeat's percentile (every expected delivery "
    f"counted); bars: min to max; \u25b2 at the top: lost, {LOST}"
)
MERGED_NOTE = (
    "merged histogram of all repeats, percentiles of every expected delivery; "
    "a line ends where its lost messages begin"
)
# HdrHistogram's percentile-spectrum axis: 1/(1-p), so each extra nine gets equal room;
# 20 levels per nine draw a smooth curve up to 99.9999%.
SPECTRUM_LEVELS = tuple(100 * (1 - 10 ** (-k / 20)) for k in range(0, 121))
SPECTRUM_TICKS = (
    (0.0, "0%"),
    (50.0, "50%"),
    (90.0, "90%"),
    (99.0, "99%"),
    (99.9, "99.9%"),
    (99.99, "99.99%"),
    (99.999, "99.999%"),
    (99.9999, "99.9999%"),
)

plt.rcParams.update(
    {
        "svg.fonttype": "none",  # text stays text: smaller SVG files, searchable labels
        "svg.hashsalt": "chanbench",  # stable element ids, so unchanged charts diff clean
        "axes.grid": True,
        "grid.alpha": 0.3,
        "legend.fontsize": "small",
        "figure.dpi": DPI,
    }
)


def write_charts(sources: Sequence[Source], out_dir: Path) -> list[Chart]:
    """Draw every chart for ``sources`` (overlaid) into ``out_dir``; return what was drawn."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lay = layout(sources)
    return [
        *metric_charts(lay, out_dir),
        *spectrum_charts(lay, out_dir),
        *timeline_charts(lay, out_dir),
    ]


class Styler:
    """Colours by consumer; line style and marker by source and layer."""

    def __init__(self, lines: Sequence[Line]) -> None:
        self.colors: dict[str, str] = {}
        others = iter(OTHER_COLORS * 4)
        for consumer in sorted({ln.consumer for ln in lines}, key=consumer_order):
            self.colors[consumer] = CONSUMER_COLORS.get(consumer) or next(others)
        combos = list(dict.fromkeys((id(ln.source), ln.layer, ln.extra) for ln in lines))
        self.index = {combo: i for i, combo in enumerate(combos)}

    def __call__(self, line: Line) -> dict[str, Any]:
        i = self.index[(id(line.source), line.layer, line.extra)]
        return {
            "color": self.colors[line.consumer],
            "linestyle": LINESTYLES[i % len(LINESTYLES)],
            "marker": MARKERS[i % len(MARKERS)],
        }


def save(fig: Figure, out_dir: Path, name: str) -> None:
    """Write ``fig`` as PNG and SVG into ``out_dir``, each atomically, then close it."""
    try:
        for fmt in FORMATS:
            metadata = {"Date": None} if fmt == "svg" else {"Software": None}
            with store.atomic_path(out_dir / f"{name}.{fmt}") as tmp:
                fig.savefig(tmp, format=fmt, dpi=DPI, metadata=metadata, bbox_inches="tight")
    finally:
        plt.close(fig)


def _figure(
    nrows: int = 1, ncols: int = 1, height_in: float | None = None, **kwargs: Any
) -> tuple[Figure, Any]:
    width, height = FIGSIZE_IN
    return plt.subplots(
        nrows, ncols, figsize=(width, height_in or height), layout="constrained", **kwargs
    )


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
    ax.set_xticklabels([str(v) for v in values])
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
        for x, point in line.points:
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
    if drawn:
        ax.legend(loc="best")
    return drawn


def _note(fig: Figure, text: str) -> None:
    """A line under the chart saying which percentile it shows (kept by the tight box)."""
    fig.text(0.01, -0.01, text, ha="left", va="top", fontsize="x-small", color="#555")


def _log_y(ax: Any) -> None:
    """Log scale with plain numbers (20, 50, 100) rather than powers of ten."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(_label_2_and_5))


def _label_2_and_5(value: float, _pos: Any) -> str:
    """Label the minor ticks at 2 and 5 times a power of ten, leave the rest bare."""
    if value <= 0:
        return ""
    mantissa = value / 10 ** math.floor(math.log10(value))
    return f"{value:g}" if any(abs(mantissa - m) < 1e-6 for m in (2, 5)) else ""


def _integer_y(ax: Any) -> None:
    """Thread counts: whole numbers, and room above the usual two threads."""
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(top=max(ax.get_ylim()[1], 4))


def metric_charts(lay: Layout, out_dir: Path) -> list[Chart]:
    """Throughput, latency, threads and CPU against the x key."""
    charts: list[Chart] = []
    styler = Styler(lay.lines)
    title = scenario_names(lay.sources)
    xname = X_LABELS.get(lay.x_key, lay.x_key).split(" (")[0]
    server = f"the server ({param_values(lay.sources, 'server')})"

    def single(metric: str, name: str, heading: str, ylabel: str, caption: str) -> None:
        fig, ax = _figure()
        if not _plot_metric(ax, lay, styler, metric):
            plt.close(fig)
            return
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        if metric == "threads":
            _integer_y(ax)
        ax.set_title(f"{title}: {heading}")
        save(fig, out_dir, name)
        charts.append(Chart(name, heading[0].upper() + heading[1:], caption))

    single(
        "delivered_per_s",
        "throughput",
        "throughput",
        "messages delivered per second",
        f"Messages delivered to clients per second in the measured window, against {xname}. "
        "Higher is better.",
    )

    fig, axes = _figure(1, 2, sharey=True)
    drawn = False
    for ax, metric, name in ((axes[0], "p50_ms", "p50"), (axes[1], "p99_ms", "p99")):
        if _plot_metric(ax, lay, styler, metric):
            drawn = True
            _log_y(ax)
            ax.set_title(f"{name} latency")
    if drawn:
        axes[0].get_legend().remove()  # one legend for both: the lines are the same
        axes[0].set_ylabel("latency (ms, log scale)")
        fig.suptitle(f"{title}: latency")
        _note(fig, PER_REPEAT_NOTE)
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
        "server threads (peak)",
        "server threads (peak)",
        f"Peak thread count of {server} in the measured window. The sync consumer's "
        "handlers run in asgiref's one thread-sensitive worker thread (ASGI_THREADS does "
        "not size it); the async ones in the event loop, with one hop to that same thread "
        "per message on Channels 4.2+ (aclose_old_connections). Per-thread CPU is in the "
        "result file.",
    )
    single(
        "cpu_percent",
        "cpu",
        "server CPU (% of one core)",
        "server CPU (% of one core)",
        f"Mean CPU of {server} in the measured window; 100% is one full core.",
    )
    return charts


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "point"


def _inverse_tail(pct: float) -> float:
    return 1.0 / (1.0 - pct / 100.0)


def spectrum_charts(lay: Layout, out_dir: Path) -> list[Chart]:
    """Latency against percentile, one chart per load, from merged repeat histograms:
    the percentiles of every expected delivery, so a line ends where its lost messages
    begin (at 90% when 10% were lost)."""
    charts = []
    styler = Styler(lay.lines)
    for (x, extra), members in lay.groups().items():
        fig, ax = _figure()
        most = 0
        for line, point in members:
            reps = point.ok_repeats()
            hist = stats.merge_histograms(r.latency_histogram for r in reps)
            count = hist.get_total_count()
            # Repeats without books (older files) count what they delivered.
            expected = sum(
                r.counts.expected if r.counts is not None else int(r.latency_ms.get("count") or 0)
                for r in reps
            )
            expected = max(expected, count)
            # A percentile past 1 - 1/expected is the maximum again: stop where data ends.
            pairs = [
                (p, ms)
                for p, ms in stats.spectrum_with_loss_ms(hist, expected, SPECTRUM_LEVELS)
                if _inverse_tail(p) <= expected
            ]
            if not pairs:
                continue
            most = max(most, expected)
            style = styler(line)
            lost = 1 - count / expected if expected else 0.0
            ax.plot(
                [_inverse_tail(p) for p, _ in pairs],
                [ms for _, ms in pairs],
                color=style["color"],
                linestyle=style["linestyle"],
                label=f"{line.label(lay.multi_source)} ({count:,} messages"
                + (f", {lost:.1%} lost" if lost > 0 else "")
                + ")",
            )
        if not most:
            plt.close(fig)
            continue
        ax.set_xscale("log")
        _log_y(ax)
        ticks = [
            (_inverse_tail(p), text)
            for p, text in SPECTRUM_TICKS
            if _inverse_tail(p) <= max(most, 10)
        ]
        ax.xaxis.set_major_locator(FixedLocator([t for t, _ in ticks]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([text for _, text in ticks])
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency (ms, log scale)")
        group = lay.point_name(x, extra)
        ax.set_title(f"{scenario_names(lay.sources)}: latency by percentile, {group}")
        ax.legend(loc="lower right")
        _note(fig, MERGED_NOTE)
        name = f"spectrum_{_slug(group)}"
        save(fig, out_dir, name)
        charts.append(
            Chart(
                name,
                f"Latency spectrum, {group}",
                "Latency at each percentile of every expected delivery, every repeat's "
                "histogram merged (not the tables' median over repeats); a line ends where "
                "its lost messages begin (HdrHistogram style: each further nine gets equal "
                "width).",
            )
        )
    return charts


def phase_offset_s(repeat: Repeat, point: PointResult) -> float | None:
    """Seconds from the monitor's start to the start of the warm-up, the runner's t = 0."""
    window = repeat.server.window_s if repeat.server else []
    warmup_s = point.params.get("warmup_s")
    if not window or window[0] is None or warmup_s is None:
        return None
    return float(window[0]) - float(warmup_s)


def timeline_charts(lay: Layout, out_dir: Path) -> list[Chart]:
    """Delivered rate, server threads and server CPU over a repeat's time, per load."""
    charts = []
    styler = Styler(lay.lines)
    for (x, extra), members in lay.groups().items():
        fig, axes = _figure(3, 1, height_in=6.4, sharex=True)
        drawn = False
        for line, point in members:
            style = styler(line)
            label = line.label(lay.multi_source)
            for i, rep in enumerate(point.ok_repeats()):
                kw = {
                    "color": style["color"],
                    "linestyle": style["linestyle"],
                    "linewidth": 1,
                    "alpha": 0.8,
                    "label": label if i == 0 else None,
                }
                series = rep.delivery_series
                if series.get("t_s"):
                    axes[0].plot(series["t_s"], series["delivered_per_s"], **kw)
                    drawn = True
                server = rep.server.series if rep.server else {}
                offset = phase_offset_s(rep, point)
                if server.get("t_s") and offset is not None:
                    t = [s - offset for s in server["t_s"]]
                    axes[1].plot(t, server["threads"], drawstyle="steps-post", **kw)
                    axes[2].plot(t, server["cpu_percent"], **kw)
                    drawn = True
        if not drawn:
            plt.close(fig)
            continue
        params = members[0][1].params
        warmup_s, duration_s = params.get("warmup_s"), params.get("duration_s")
        for ax in axes:
            if warmup_s is not None and duration_s is not None:
                ax.axvspan(warmup_s, warmup_s + duration_s, color="grey", alpha=0.12, lw=0)
            ax.axvline(0, color="grey", linewidth=0.8)
            ax.set_ylim(bottom=0)
        axes[0].set_ylabel("delivered/s")
        axes[1].set_ylabel("server threads")
        axes[2].set_ylabel("server CPU %")
        axes[2].set_xlabel("seconds from the start of the warm-up (shaded: measured window)")
        _integer_y(axes[1])
        handles, labels = axes[0].get_legend_handles_labels()
        if not handles:
            handles, labels = axes[1].get_legend_handles_labels()
        axes[0].legend(handles, labels, loc="lower center", fontsize="x-small")
        group = lay.point_name(x, extra)
        fig.suptitle(f"{scenario_names(lay.sources)}: timeline, {group}")
        name = f"timeline_{_slug(group)}"
        save(fig, out_dir, name)
        charts.append(
            Chart(
                name,
                f"Timeline, {group}",
                "Each repeat over time: messages delivered per second, then the "
                "server's thread count and CPU, sampled by the monitor. Before 0 "
                "the clients connect; after the shaded window they drain.",
            )
        )
    return charts
