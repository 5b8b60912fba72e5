"""The charts of one load: the latency spectrum (merged histograms, HdrHistogram's axis)
and the timeline of each repeat (delivered rate, server threads and CPU over time)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import FixedLocator, NullLocator

from bench.judge import stats
from bench.report.charts.style import (
    MERGED_NOTE,
    Styler,
    figure,
    integer_y,
    log_y,
    note,
    save,
    slug,
)
from bench.report.layout import Chart, Layout, scenario_names
from bench.results.model import PointResult, Repeat

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


def _inverse_tail(pct: float) -> float:
    return 1.0 / (1.0 - pct / 100.0)


def spectrum_charts(lay: Layout, out_dir: Path) -> list[Chart]:
    """Latency against percentile, one chart per load, from merged repeat histograms:
    the percentiles of every expected delivery, so a line ends where its lost messages
    begin (at 90% when 10% were lost)."""
    charts = []
    styler = Styler(lay.lines)
    for (x, extra), members in lay.groups().items():
        fig, ax = figure()
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
        log_y(ax)
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
        note(fig, MERGED_NOTE)
        name = f"spectrum_{slug(group)}"
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
    if not window or window[0] is None:
        return None
    return float(window[0]) - point.point.warmup_s


def timeline_charts(lay: Layout, out_dir: Path) -> list[Chart]:
    """Delivered rate, server threads and server CPU over a repeat's time, per load."""
    charts = []
    styler = Styler(lay.lines)
    for (x, extra), members in lay.groups().items():
        fig, axes = figure(3, 1, height_in=6.4, sharex=True)
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
        config = members[0][1].point
        for ax in axes:
            ax.axvspan(
                config.warmup_s,
                config.warmup_s + config.duration_s,
                color="grey",
                alpha=0.12,
                lw=0,
            )
            ax.axvline(0, color="grey", linewidth=0.8)
            ax.set_ylim(bottom=0)
        axes[0].set_ylabel("delivered/s")
        axes[1].set_ylabel("server threads")
        axes[2].set_ylabel("server CPU %")
        axes[2].set_xlabel("seconds from the start of the warm-up (shaded: measured window)")
        integer_y(axes[1])
        handles, labels = axes[0].get_legend_handles_labels()
        if not handles:
            handles, labels = axes[1].get_legend_handles_labels()
        axes[0].legend(handles, labels, loc="lower center", fontsize="x-small")
        group = lay.point_name(x, extra)
        fig.suptitle(f"{scenario_names(lay.sources)}: timeline, {group}")
        name = f"timeline_{slug(group)}"
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
