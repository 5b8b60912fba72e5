"""Reports: charts, ``index.html`` and ``README.md`` from result files. The only module
that draws.

A report follows the shape of Channels' old load-test READMEs (``loadtesting/<date>/``):
a Summary (who wins at each load, by what ratio, and the caveats), the Methodology, the
exact versions, the charts, the warnings, and the command that reproduces the run.

Every chart puts sync and async on the same axes, one line per consumer and layer (and
per result file when several are overlaid); a line's markers are the medians over the
repeats and its bars span the repeats' minimum to maximum: with a handful of repeats a
range says more than a standard deviation would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window; must precede pyplot
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from bench import stats
from bench.tables import num

REPORTS_DIR = Path(__file__).resolve().parent.parent / "reports"
# 640x400 pixels at 100 dpi: legible on a page, small enough to keep beside results.
DPI = 100
FIGSIZE_IN = (6.4, 4.0)
FORMATS = ("png", "svg")
# A consumer keeps its colour in every chart, so sync and async read the same everywhere.
CONSUMER_COLORS = {"sync": "tab:orange", "async": "tab:blue"}
OTHER_COLORS = ("tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")
# Keys that draw separate lines rather than an axis; repeats never split a point.
LINE_KEYS = ("consumer", "layer")
NOT_PARAMS = ("repeats",)
# The x axis: the first of these that varies (a saturation search always steps rate).
X_PREFERENCE = ("clients", "rate", "rooms", "clients_per_room", "message_bytes")
X_LABELS = {
    "clients": "clients (websocket connections)",
    "rate": "messages/s per client (open loop)",
    "rooms": "rooms",
    "clients_per_room": "clients per room",
    "message_bytes": "message size (bytes)",
}
# Sync and async within this factor of each other is called a tie.
TIE_FACTOR = 1.10

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


# --- The data: result files, their points, and the lines drawn through them -------------


@dataclass
class Source:
    """One result file in a report; ``label`` names its lines when several are overlaid."""

    label: str
    result: dict[str, Any]
    path: Path | None = None


@dataclass
class Line:
    """Points of one source, consumer, layer and fixed other keys, along the x axis."""

    source: Source
    consumer: str
    layer: str
    extra: tuple[tuple[str, Any], ...]
    points: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)

    def label(self, multi_source: bool) -> str:
        parts = [self.source.label] if multi_source and self.source.label else []
        parts += [self.consumer, self.layer]
        parts += [f"{k}={v}" for k, v in self.extra]
        return " ".join(parts)


@dataclass
class Layout:
    """What the charts plot: the x key, the lines, and the groups of equal load."""

    x_key: str
    varying: list[str]
    lines: list[Line]
    sources: list[Source]

    @property
    def multi_source(self) -> bool:
        return len(self.sources) > 1

    def x_values(self) -> list[Any]:
        values = {x for line in self.lines for x, _ in line.points}
        return sorted(values, key=_sort_key)

    def groups(self) -> dict[tuple[Any, ...], list[tuple[Line, dict[str, Any]]]]:
        """Points at the same load (x value and extra keys), across lines: one spectrum
        and one timeline chart each, with sync and async on the same axes."""
        out: dict[tuple[Any, ...], list[tuple[Line, dict[str, Any]]]] = {}
        for line in self.lines:
            for x, point in line.points:
                out.setdefault((x, *line.extra), []).append((line, point))
        return dict(sorted(out.items(), key=lambda kv: tuple(_sort_key(v) for v in kv[0])))


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, tuple):
        return (2, str(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def _consumer_order(consumer: str) -> tuple[int, str]:
    return ({"sync": 0, "async": 1}.get(consumer, 2), consumer)


def varying_keys(points: Sequence[dict[str, Any]]) -> list[str]:
    """Params whose values differ between points, not counting the line keys."""
    keys: list[str] = []
    for point in points:
        for key in point.get("params", {}):
            if key not in keys and key not in LINE_KEYS and key not in NOT_PARAMS:
                keys.append(key)
    return [k for k in keys if len({repr(p.get("params", {}).get(k)) for p in points}) > 1]


def layout(sources: Sequence[Source]) -> Layout:
    points = [p for s in sources for p in s.result.get("points", [])]
    varying = varying_keys(points)
    searched = any((s.result.get("scenario") or {}).get("search") for s in sources)
    preferred = ["rate", *X_PREFERENCE] if searched else list(X_PREFERENCE)
    x_key = next((k for k in preferred if k in varying), varying[0] if varying else "clients")
    lines: dict[tuple[Any, ...], Line] = {}
    for source in sources:
        for point in source.result.get("points", []):
            params = point.get("params", {})
            extra = tuple((k, params.get(k)) for k in varying if k != x_key)
            consumer, layer = str(params.get("consumer", "?")), str(params.get("layer", "?"))
            key = (id(source), consumer, layer, extra)
            if key not in lines:
                lines[key] = Line(source, consumer, layer, extra)
            lines[key].points.append((params.get(x_key), point))
    ordered = sorted(
        lines.values(),
        key=lambda ln: (
            sources.index(ln.source),
            _consumer_order(ln.consumer),
            ln.layer,
            repr(ln.extra),
        ),
    )
    for line in ordered:
        line.points.sort(key=lambda xp: _sort_key(xp[0]))
    return Layout(x_key, varying, ordered, list(sources))


def ok_repeats(point: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in point.get("repeats", []) if r.get("status") == "ok"]


def median_range(point: dict[str, Any], metric: str) -> tuple[float, float, float] | None:
    """(median, minimum, maximum) of ``metric`` over the point's successful repeats."""
    values = stats.metric_values(point, metric)
    if not values:
        return None
    med = stats.median(values)
    assert med is not None
    return med, min(values), max(values)


# --- Charts -------------------------------------------------------------------------------


@dataclass
class Chart:
    """A chart written as ``<name>.png`` and ``<name>.svg`` in the report directory."""

    name: str
    title: str
    caption: str


class Styler:
    """Colours by consumer; line style and marker by source and layer."""

    def __init__(self, lines: Sequence[Line]) -> None:
        self.colors: dict[str, str] = {}
        others = iter(OTHER_COLORS * 4)
        for consumer in sorted({ln.consumer for ln in lines}, key=_consumer_order):
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


@contextlib.contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed over it once written."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    with _atomic_target(path) as tmp:
        tmp.write_text(text)


def save(fig: Figure, out_dir: Path, name: str) -> None:
    """Write ``fig`` as PNG and SVG into ``out_dir``, each atomically, then close it."""
    try:
        for fmt in FORMATS:
            metadata = {"Date": None} if fmt == "svg" else {"Software": None}
            with _atomic_target(out_dir / f"{name}.{fmt}") as tmp:
                fig.savefig(tmp, format=fmt, dpi=DPI, metadata=metadata, bbox_inches="tight")
    finally:
        plt.close(fig)


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
            ax.set_xticklabels([f"{v:g}" for v in values])
        else:
            ax.set_xticks(values)
            ax.set_xticklabels([f"{v:g}" for v in values])
        return lambda v: v
    positions = {v: i for i, v in enumerate(values)}
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels([str(v) for v in values])
    return lambda v: positions[v]


def _plot_metric(ax: Any, lay: Layout, styler: Styler, metric: str, scale: float = 1.0) -> bool:
    """Median and min-max bars of ``metric`` along x, one line per Line; False if no data."""
    place = _x_axis(ax, lay)
    drawn = False
    for line in lay.lines:
        xs, meds, lows, highs = [], [], [], []
        for x, point in line.points:
            summary = median_range(point, metric)
            if summary is None:
                continue
            med, low, high = (v * scale for v in summary)
            xs.append(place(x))
            meds.append(med)
            lows.append(med - low)
            highs.append(high - med)
        if not xs:
            continue
        ax.errorbar(
            xs,
            meds,
            yerr=[lows, highs],
            capsize=3,
            markersize=5,
            label=line.label(lay.multi_source),
            **styler(line),
        )
        drawn = True
    if drawn:
        ax.legend(loc="best")
    return drawn


def _figure(
    nrows: int = 1, ncols: int = 1, height_in: float | None = None, **kwargs: Any
) -> tuple[Figure, Any]:
    width, height = FIGSIZE_IN
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width, height_in or height), layout="constrained", **kwargs
    )
    return fig, axes


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


def _title(lay: Layout) -> str:
    names = list(
        dict.fromkeys((s.result.get("scenario") or {}).get("name", "?") for s in lay.sources)
    )
    return ", ".join(names)


def metric_charts(lay: Layout, out_dir: Path) -> list[Chart]:
    """Throughput, latency, threads and CPU against the x key."""
    charts: list[Chart] = []
    styler = Styler(lay.lines)
    xname = X_LABELS.get(lay.x_key, lay.x_key).split(" (")[0]

    fig, ax = _figure()
    if _plot_metric(ax, lay, styler, "delivered_per_s"):
        ax.set_ylabel("messages delivered per second")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{_title(lay)}: throughput")
        save(fig, out_dir, "throughput")
        charts.append(
            Chart(
                "throughput",
                "Throughput",
                f"Messages delivered to clients per second in the measured window, "
                f"against {xname}. Higher is better.",
            )
        )
    else:
        plt.close(fig)

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
        fig.suptitle(f"{_title(lay)}: latency")
        save(fig, out_dir, "latency")
        charts.append(
            Chart(
                "latency",
                "Latency",
                "Median (p50) and 99th percentile (p99) time from a client "
                "sending a message to each room member receiving it, log scale. "
                "Lower is better.",
            )
        )
    else:
        plt.close(fig)

    for metric, name, ylabel, caption in (
        (
            "threads",
            "threads",
            "server threads (peak)",
            "Peak thread count of the Daphne process in the measured window. The sync "
            "consumer's handlers run in asgiref's thread-sensitive worker thread; the async "
            "ones in the event loop, with one thread hop per message on Channels 4.2+ "
            "(aclose_old_connections). Per-thread CPU is in the result file.",
        ),
        (
            "cpu_percent",
            "cpu",
            "server CPU (% of one core)",
            "Mean CPU of the Daphne process in the measured window; 100% is one full core.",
        ),
    ):
        fig, ax = _figure()
        if _plot_metric(ax, lay, styler, metric):
            ax.set_ylabel(ylabel)
            ax.set_ylim(bottom=0)
            if metric == "threads":
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
                ax.set_ylim(top=max(ax.get_ylim()[1], 4))
            ax.set_title(f"{_title(lay)}: {ylabel}")
            save(fig, out_dir, name)
            charts.append(Chart(name, ylabel[0].upper() + ylabel[1:], caption))
        else:
            plt.close(fig)
    return charts


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "point"


def _group_name(lay: Layout, key: tuple[Any, ...]) -> str:
    x, *extra = key
    parts = [f"{lay.x_key}={x}"]
    parts += [f"{k}={v}" for (k, v) in extra]
    return " ".join(parts)


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
    """Latency against percentile, one chart per load, from merged repeat histograms."""
    charts = []
    styler = Styler(lay.lines)
    for key, members in lay.groups().items():
        fig, ax = _figure()
        most = 0
        for line, point in members:
            hist = stats.merge_histograms(r.get("latency_histogram", "") for r in ok_repeats(point))
            count = hist.get_total_count()
            # A percentile past 1 - 1/count is the maximum again: stop where data ends.
            pairs = [
                (p, ms)
                for p, ms in stats.spectrum_ms(hist, SPECTRUM_LEVELS)
                if _inverse_tail(p) <= count
            ]
            if not pairs:
                continue
            most = max(most, count)
            style = styler(line)
            ax.plot(
                [_inverse_tail(p) for p, _ in pairs],
                [ms for _, ms in pairs],
                color=style["color"],
                linestyle=style["linestyle"],
                label=f"{line.label(lay.multi_source)} ({count:,} messages)",
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
        group = _group_name(lay, key)
        ax.set_title(f"{_title(lay)}: latency by percentile, {group}")
        ax.legend(loc="lower right")
        name = f"spectrum_{_slug(group)}"
        save(fig, out_dir, name)
        charts.append(
            Chart(
                name,
                f"Latency spectrum, {group}",
                "Latency at each percentile, every repeat's histogram merged "
                "(HdrHistogram style: each further nine gets equal width).",
            )
        )
    return charts


def _phase_offset_s(repeat: dict[str, Any], point: dict[str, Any]) -> float | None:
    """Seconds from the monitor's start to the start of the warm-up, the runner's t = 0."""
    window = (repeat.get("server") or {}).get("window_s") or []
    warmup_s = point.get("params", {}).get("warmup_s")
    if not window or window[0] is None or warmup_s is None:
        return None
    return float(window[0]) - float(warmup_s)


def timeline_charts(lay: Layout, out_dir: Path) -> list[Chart]:
    """Delivered rate, server threads and server CPU over a repeat's time, per load."""
    charts = []
    styler = Styler(lay.lines)
    for key, members in lay.groups().items():
        fig, axes = _figure(3, 1, height_in=6.4, sharex=True)
        drawn = False
        for line, point in members:
            style = styler(line)
            label = line.label(lay.multi_source)
            for i, rep in enumerate(ok_repeats(point)):
                kw = {
                    "color": style["color"],
                    "linestyle": style["linestyle"],
                    "linewidth": 1,
                    "alpha": 0.8,
                    "label": label if i == 0 else None,
                }
                series = rep.get("delivery_series") or {}
                if series.get("t_s"):
                    axes[0].plot(series["t_s"], series["delivered_per_s"], **kw)
                    drawn = True
                server = (rep.get("server") or {}).get("series") or {}
                offset = _phase_offset_s(rep, point)
                if server.get("t_s") and offset is not None:
                    t = [s - offset for s in server["t_s"]]
                    axes[1].plot(t, server["threads"], drawstyle="steps-post", **kw)
                    axes[2].plot(t, server["cpu_percent"], **kw)
                    drawn = True
        if not drawn:
            plt.close(fig)
            continue
        params = members[0][1].get("params", {})
        warmup_s, duration_s = params.get("warmup_s"), params.get("duration_s")
        for ax in axes:
            if warmup_s is not None and duration_s is not None:
                ax.axvspan(warmup_s, warmup_s + duration_s, color="grey", alpha=0.12, lw=0)
            ax.axvline(0, color="grey", linewidth=0.8)
        axes[0].set_ylabel("delivered/s")
        axes[1].set_ylabel("server threads")
        axes[2].set_ylabel("server CPU %")
        axes[2].set_xlabel("seconds from the start of the warm-up (shaded: measured window)")
        for ax in axes:
            ax.set_ylim(bottom=0)
        axes[1].yaxis.set_major_locator(MaxNLocator(integer=True))
        axes[1].set_ylim(top=max(axes[1].get_ylim()[1], 4))
        handles, labels = axes[0].get_legend_handles_labels()
        if not handles:
            handles, labels = axes[1].get_legend_handles_labels()
        axes[0].legend(handles, labels, loc="lower center", fontsize="x-small")
        group = _group_name(lay, key)
        fig.suptitle(f"{_title(lay)}: timeline, {group}")
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


def write_charts(
    sources: Sequence[Source] | Sequence[tuple[str, dict[str, Any]]], out_dir: Path
) -> list[Chart]:
    """Draw every chart for ``sources`` (overlaid) into ``out_dir``; return what was drawn."""
    srcs = [s if isinstance(s, Source) else Source(s[0], s[1]) for s in sources]
    out_dir.mkdir(parents=True, exist_ok=True)
    lay = layout(srcs)
    return [
        *metric_charts(lay, out_dir),
        *spectrum_charts(lay, out_dir),
        *timeline_charts(lay, out_dir),
    ]


# --- The text: one document, rendered as Markdown and as HTML ----------------------------

Block = tuple[Any, ...]  # ("h1"|"h2"|"h3"|"p"|"code", text) | ("ul", items) |
#                          ("table", headers, rows) | ("img", chart)


def render_markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + block[1])
        elif kind == "p":
            out.append(block[1])
        elif kind == "code":
            out.append(f"```\n{block[1]}\n```")
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "table":
            headers, rows = block[1], block[2]
            lines = [
                "| " + " | ".join(headers) + " |",
                "|" + "|".join(":--" if i == 0 else "--:" for i in range(len(headers))) + "|",
            ]
            lines += [
                "| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows
            ]
            out.append("\n".join(lines))
        elif kind == "img":
            chart: Chart = block[1]
            out.append(
                f"![{chart.title}]({chart.name}.png)\n\n{chart.caption} ([SVG]({chart.name}.svg))"
            )
    return "\n\n".join(out) + "\n"


HTML_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.45; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right;
         white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
pre { background: #f4f4f4; padding: 0.75rem; overflow-x: auto; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #555; }
"""


def render_html(blocks: Sequence[Block], title: str) -> str:
    esc = html.escape
    body: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{esc(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{esc(block[1])}</p>")
        elif kind == "code":
            body.append(f"<pre><code>{esc(block[1])}</code></pre>")
        elif kind == "ul":
            body.append("<ul>\n" + "\n".join(f"<li>{esc(i)}</li>" for i in block[1]) + "\n</ul>")
        elif kind == "table":
            head = "".join(f"<th>{esc(h)}</th>" for h in block[1])
            rows = "\n".join(
                "<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>"
                for row in block[2]
            )
            body.append(
                f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>"
            )
        elif kind == "img":
            chart: Chart = block[1]
            body.append(
                f'<figure id="{esc(chart.name)}">\n'
                f'<img src="{esc(chart.name)}.png" alt="{esc(chart.title)}" width="640">\n'
                f"<figcaption>{esc(chart.caption)} "
                f'(<a href="{esc(chart.name)}.svg">SVG</a>)</figcaption>\n</figure>'
            )
    # The empty icon stops the browser asking for /favicon.ico, which a file:// report lacks.
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>{esc(title)}</title>\n<link rel="icon" href="data:,">\n'
        f"<style>{HTML_STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def _when(timestamp: Any) -> str:
    if isinstance(timestamp, int | float):
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(timestamp, str):
        try:
            return (
                dt.datetime.fromisoformat(timestamp)
                .astimezone(dt.UTC)
                .strftime("%Y-%m-%d %H:%M UTC")
            )
        except ValueError:
            return timestamp
    return "unknown"


def _point_name(lay: Layout, line: Line, x: Any) -> str:
    parts = [f"{lay.x_key}={x}", *(f"{k}={v}" for k, v in line.extra)]
    return " ".join(parts)


def _ranges_overlap(a: dict[str, Any], b: dict[str, Any], metric: str) -> bool:
    va, vb = stats.metric_values(a, metric), stats.metric_values(b, metric)
    if not va or not vb:
        return True
    return not (min(va) > max(vb) or min(vb) > max(va))


def summary_items(lay: Layout, source: Source) -> list[str]:
    """Who wins at each load, sync against async, by what ratio."""
    items = []
    lines = [ln for ln in lay.lines if ln.source is source]
    by_key: dict[tuple[Any, ...], dict[str, tuple[Line, dict[str, Any]]]] = {}
    for line in lines:
        for x, point in line.points:
            by_key.setdefault((line.layer, line.extra, _sort_key(x), x), {})[line.consumer] = (
                line,
                point,
            )
    for (layer, _extra, _, x), consumers in sorted(by_key.items(), key=lambda kv: kv[0][:3]):
        if not {"sync", "async"} <= set(consumers):
            continue
        line, sync_point = consumers["sync"]
        _, async_point = consumers["async"]
        ms, ma = stats.point_medians(sync_point), stats.point_medians(async_point)
        where = f"{_point_name(lay, line, x)}, {layer} layer"
        thr = stats.ratio(ma["delivered_per_s"], ms["delivered_per_s"])
        p99 = stats.ratio(ma["p99_ms"], ms["p99_ms"])
        open_loop = sync_point.get("params", {}).get("mode") == "open"
        # In open loop the clients send at a fixed rate whatever the server does, so
        # throughput only says whether it kept up; latency decides.
        decider = (1 / p99 if p99 else None) if open_loop else thr
        metric = "p99_ms" if open_loop else "delivered_per_s"
        if decider is None:
            items.append(
                f"{where}: no comparable measurements (a consumer has no successful repeat)."
            )
            continue
        if decider >= TIE_FACTOR:
            verdict = "async wins"
        elif decider <= 1 / TIE_FACTOR:
            verdict = "sync wins"
        else:
            verdict = f"a tie (within {TIE_FACTOR - 1:.0%})"
        overlap = _ranges_overlap(sync_point, async_point, metric)
        text = (
            f"{where}: {verdict}. Async delivers {num(thr, '.2f', 'x')} the messages per "
            f"second of sync ({num(ma['delivered_per_s'])} vs "
            f"{num(ms['delivered_per_s'])}/s) at {num(p99, '.2f', 'x')} its p99 latency "
            f"({num(ma['p99_ms'], '.1f')} vs {num(ms['p99_ms'], '.1f')} ms); server threads "
            f"{num(ma['threads'])} (async) vs {num(ms['threads'])} (sync)."
        )
        text += (
            " The repeats' ranges overlap: the difference may be noise."
            if overlap
            else " The repeats' ranges do not overlap."
        )
        items.append(text)
    return items


def caveat_items(source: Source) -> list[str]:
    result = source.result
    env = result.get("environment") or {}
    points = result.get("points", [])
    items = []
    repeats = [len(ok_repeats(p)) for p in points]
    if repeats and min(repeats) < stats.FEW_REPEATS:
        items.append(
            f"Only {min(repeats)} successful repeat(s) for some points: the bars are "
            "ranges of very few samples, and differences under about 10-20% may be "
            "noise. Run more repeats (--set repeats=5) for firmer numbers."
        )
    if not result.get("target"):
        items.append(
            f"Clients and server ran on the same machine ({env.get('cpu_count', '?')} "
            "CPUs): the load generator competes with the server for CPU, so absolute "
            "rates are this machine's, and ratios are the portable part."
        )
    calibration = result.get("calibration") or {}
    if calibration.get("deliveries_per_s"):
        ceiling = calibration["deliveries_per_s"]
        best = max((stats.point_medians(p)["delivered_per_s"] or 0 for p in points), default=0)
        items.append(
            f"The load generator's ceiling (against a minimal reference server) was "
            f"{ceiling:,.0f} deliveries/s; the fastest point reached "
            f"{best / ceiling:.0%} of it."
        )
    elif calibration.get("error"):
        items.append(
            f"Calibration failed ({calibration['error']}): the load generator's ceiling is unknown."
        )
    else:
        items.append(
            "No calibration (--no-calibrate): the load generator's ceiling is unknown, "
            "so a client limit cannot be ruled out."
        )
    if result.get("partial"):
        items.append("The run was interrupted: points or repeats are missing.")
    if (env.get("git") or {}).get("dirty"):
        items.append(
            "The working tree had uncommitted changes: the commit alone does not "
            "reproduce this run."
        )
    return items


def warning_items(source: Source) -> list[str]:
    """Client saturation, lost messages, failed repeats, wide spread, few repeats."""
    items: list[str] = []
    few = False
    for point in source.result.get("points", []):
        label = point.get("label") or point.get("id", "?")
        for rep in point.get("repeats", []):
            if rep.get("status") != "ok":
                items.append(f"{label}, repeat {rep.get('repeat')}: failed: {rep.get('reason')}")
            for warning in rep.get("warnings", []):
                items.append(f"{label}, repeat {rep.get('repeat')}: {warning}")
        for metric in ("delivered_per_s", "p99_ms"):
            items += [
                f"{label}: {w}"
                for w in stats.spread_warnings(metric, stats.metric_values(point, metric))
            ]
        few = few or len(ok_repeats(point)) < stats.FEW_REPEATS
    if few:
        items.append(
            f"Fewer than {stats.FEW_REPEATS} successful repeats at some points: "
            "spread cannot be judged there."
        )
    return list(dict.fromkeys(items))


def results_table(lay: Layout, source: Source) -> tuple[list[str], list[list[str]]]:
    headers = [
        "point",
        "delivered/s",
        "range",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "threads",
        "CPU %",
        "loop CPU %",
        "other threads CPU %",
        "loss",
        "repeats",
    ]
    rows = []
    for line in (ln for ln in lay.lines if ln.source is source):
        for x, point in line.points:
            m = stats.point_medians(point)
            rng = median_range(point, "delivered_per_s")
            rows.append(
                [
                    f"{line.consumer} {line.layer} {_point_name(lay, line, x)}",
                    num(m["delivered_per_s"]),
                    "-" if rng is None else f"{rng[1]:,.0f}-{rng[2]:,.0f}",
                    num(m["p50_ms"], ".1f"),
                    num(m["p99_ms"], ".1f"),
                    num(m["p99_9_ms"], ".1f"),
                    num(m["threads"]),
                    num(m["cpu_percent"]),
                    num(m["loop_cpu_percent"]),
                    num(m["other_threads_cpu_percent"]),
                    num(None if m["loss_ratio"] is None else 100 * m["loss_ratio"], ".2f", "%"),
                    f"{len(ok_repeats(point))}/{len(point.get('repeats', []))}",
                ]
            )
    return headers, rows


def methodology_items(source: Source) -> list[str]:
    result = source.result
    scenario = result.get("scenario") or {}
    env = result.get("environment") or {}
    points = result.get("points", [])
    params = points[0].get("params", {}) if points else {}
    matrix = scenario.get("matrix") or {}
    items = [
        f"Scenario {scenario.get('name', '?')!r}"
        + (f" ({scenario['path']})" if scenario.get("path") else "")
        + (f": {scenario['description']}" if scenario.get("description") else "")
    ]
    items.append(
        "Matrix: "
        + "; ".join(
            f"{k} = {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in matrix.items()
        )
    )
    if scenario.get("overrides"):
        items.append(
            "Overridden on the command line: "
            + ", ".join(f"{k}={','.join(map(str, v))}" for k, v in scenario["overrides"].items())
        )
    if params.get("mode") == "open":
        load = (
            f"Open loop: each client sends {params.get('rate')} messages/s "
            f"({params.get('arrival')} arrivals) whatever the server does, so latency "
            "includes any queueing."
        )
    else:
        load = (
            "Closed loop: each client sends its next message as soon as its previous one "
            "comes back, so throughput is what the server sustains."
        )
    items.append(
        load + " Each message is broadcast to every member of the sender's room "
        "(the tutorial's chat); latency is measured from send to each delivery."
    )
    items.append(
        "Phases of every repeat: a fresh Daphne server process, clients connect, "
        f"{params.get('warmup_s', '?')} s warm-up (not measured), "
        f"{params.get('duration_s', '?')} s measured, then a drain until nothing arrives for "
        f"{params.get('drain_quiet_s', '?')} s "
        "(lost messages are counted after it). Sync and async at the same load are measured "
        "one after the other, repeat by repeat."
    )
    reps = sorted({len(p.get("repeats", [])) for p in points})
    items.append(
        f"Repeats per point: {', '.join(map(str, reps))}. Numbers are medians over "
        "repeats; chart bars span the minimum to the maximum; latency percentiles come "
        "from HdrHistograms merged across client processes. No outlier is dropped."
    )
    cpu = f"{env.get('cpu_model', '?')} x {env.get('cpu_count', '?')}"
    items.append(
        f"Machine: {env.get('host', '?')}, {cpu}, {env.get('os', '?')}, "
        f"Python {env.get('python', '?')}"
        + (f"; target {result['target']}" if result.get("target") else "")
    )
    items.append(
        f"Started {_when(env.get('started_at'))}, finished {_when(result.get('finished_at'))}."
    )
    return items


def versions_table(source: Source) -> tuple[list[str], list[list[str]]]:
    env = source.result.get("environment") or {}
    git = env.get("git") or {}
    tool = source.result.get("tool") or {}
    rows = [
        ["chanbench", str(tool.get("version", "?"))],
        [
            "git commit",
            f"{git.get('commit') or 'none'}"
            + (" (dirty: uncommitted changes)" if git.get("dirty") else ""),
        ],
        ["python", f"{env.get('python', '?')} ({env.get('python_implementation', '?')})"],
        ["os", str(env.get("os", "?"))],
        ["cpu", f"{env.get('cpu_model', '?')} x {env.get('cpu_count', '?')}"],
    ]
    rows += [[name, str(version)] for name, version in (env.get("packages") or {}).items()]
    if env.get("redis_server"):
        rows.append(["redis-server", str(env["redis_server"])])
    return ["component", "version"], rows


def document(lay: Layout, charts: Sequence[Chart]) -> tuple[str, list[Block]]:
    sources = lay.sources
    multi = lay.multi_source
    names = ", ".join(
        dict.fromkeys((s.result.get("scenario") or {}).get("name", "?") for s in sources)
    )
    first_env = sources[0].result.get("environment") or {}
    title = f"chanbench report: {names}, {_when(first_env.get('started_at'))}"
    blocks: list[Block] = [("h1", title)]
    files = [
        f"{s.label + ': ' if multi else ''}{s.path.name if s.path else '(in memory)'}"
        for s in sources
    ]
    blocks.append(("p", "Result file" + ("s" if multi else "") + ": " + "; ".join(files)))

    def per_source(make: Callable[[Source], list[Block]]) -> None:
        for source in sources:
            if multi:
                blocks.append(("h3", source.label))
            blocks.extend(make(source))

    blocks.append(("h2", "Summary"))

    def summary(source: Source) -> list[Block]:
        out: list[Block] = []
        items = summary_items(lay, source)
        if items:
            out.append(("ul", items))
        else:
            out.append(
                (
                    "p",
                    "No sync/async pair at the same load to compare; the table below "
                    "has every point.",
                )
            )
        out.append(("table", *results_table(lay, source)))
        out.append(("p", "Caveats:"))
        out.append(("ul", caveat_items(source)))
        return out

    per_source(summary)
    blocks.append(("h2", "Methodology"))
    per_source(lambda s: [("ul", methodology_items(s))])
    blocks.append(("h2", "Versions"))
    per_source(lambda s: [("table", *versions_table(s))])
    blocks.append(("h2", "Charts"))
    if charts:
        blocks.append(
            (
                "p",
                "Markers are medians over repeats; bars span the minimum to the "
                "maximum. Colour is the consumer, line style the layer"
                + (" and result file" if multi else "")
                + ".",
            )
        )
        blocks.extend(("img", chart) for chart in charts)
    else:
        blocks.append(("p", "No successful repeat: nothing to draw."))
    blocks.append(("h2", "Warnings"))

    def warnings(source: Source) -> list[Block]:
        items = warning_items(source)
        return [("ul", items)] if items else [("p", "None.")]

    per_source(warnings)
    blocks.append(("h2", "Reproduce"))

    def reproduce(source: Source) -> list[Block]:
        git = (source.result.get("environment") or {}).get("git") or {}
        command = source.result.get("command") or "(the command was not recorded)"
        text = f"At git commit {git.get('commit') or '(no git)'}"
        text += (" plus uncommitted changes" if git.get("dirty") else "") + ", run:"
        return [("p", text), ("code", command)]

    per_source(reproduce)
    return title, blocks


def source_labels(paths: Sequence[Path]) -> list[str]:
    """Short, distinct labels for overlaid files: their stems, numbered if they clash."""
    labels: list[str] = []
    for path in paths:
        label = path.stem
        while label in labels:
            label = f"{path.stem}#{len(labels) + 1}"
        labels.append(label)
    return labels


def default_out_dir(paths: Sequence[Path]) -> Path:
    return REPORTS_DIR / "_vs_".join(p.stem for p in paths)


def write_report(sources: Sequence[Source], out_dir: Path) -> Path:
    """Charts, ``index.html`` and ``README.md`` for ``sources`` into ``out_dir``; returns the
    path of ``index.html``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    charts = write_charts(sources, out_dir)
    title, blocks = document(layout(sources), charts)
    write_text(out_dir / "README.md", render_markdown(blocks))
    index = out_dir / "index.html"
    write_text(index, render_html(blocks, title))
    return index
