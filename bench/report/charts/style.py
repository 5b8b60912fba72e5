"""What every chart shares: matplotlib set up for files, the sizes, a consumer's colour
in every chart, the notes that say which percentile a chart shows, and the atomic save."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window; must precede pyplot
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bench.report.layout import Line, consumer_order
from bench.results import store
from bench.results.units import LOST

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
            # The layout is the same in every format: lay it out once, not per file.
            fig.set_layout_engine("none")
    finally:
        plt.close(fig)


def figure(
    nrows: int = 1, ncols: int = 1, height_in: float | None = None, **kwargs: Any
) -> tuple[Figure, Any]:
    width, height = FIGSIZE_IN
    return plt.subplots(
        nrows, ncols, figsize=(width, height_in or height), layout="constrained", **kwargs
    )


def note(fig: Figure, text: str) -> None:
    """A line under the chart saying which percentile it shows (kept by the tight box)."""
    fig.text(0.01, -0.01, text, ha="left", va="top", fontsize="x-small", color="#555")


def log_y(ax: Any) -> None:
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


def integer_y(ax: Any) -> None:
    """Thread counts: whole numbers, and room above the usual two threads."""
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(top=max(ax.get_ylim()[1], 4))


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "point"
