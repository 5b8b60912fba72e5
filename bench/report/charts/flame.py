"""Flame graphs of the profiled points, drawn from their merged collapsed stacks.

One bar per frame, as wide as its share of the point's busy samples, stacked on its
caller: the thread at the bottom (coloured by class: the event loop, asgiref's
executor, other threads), the code running at the top. Frames narrower than
``MIN_SHARE`` are left out, and only bars wide enough for their name are labelled; the
point's ``cpu.folded`` beside the result opens in speedscope (https://speedscope.app)
or any flame graph tool for the interactive view.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

from bench.profiles import stacks
from bench.report.charts.style import figure, note, save
from bench.report.layout import Chart, Source
from bench.report.profiles import flame_name, profiled_points

# Narrower frames are noise at this size (0.2% of a 1,000-pixel-wide chart: 2 pixels).
MIN_SHARE = 0.002
# Deeper frames are left out (Twisted under Daphne is about 40 deep).
MAX_DEPTH = 60
WIDTH_IN = 10.0
ROW_IN = 0.17
# A label fits in a bar this many inches wide per character (at the font's size).
CHAR_IN = 0.055
CLASS_COLORS = {stacks.LOOP: "#4c72b0", stacks.EXECUTOR: "#dd8452", stacks.OTHER: "#8c8c8c"}


def flame_charts(sources: Sequence[Source], out_dir: Path) -> list[Chart]:
    """A flame graph per profiled point of every source."""
    multi = len(sources) > 1
    charts = []
    for source in sources:
        for profile in profiled_points(source):
            if not profile.busy.total():
                continue
            label = profile.point.label
            chart = Chart(
                flame_name(source, label, multi),
                f"CPU flame graph: {label}",
                f"{label}: where the server's busy samples fell (py-spy, every process and "
                f"repeat merged, {profile.busy.total():,} samples; idle waits left out). "
                f"The stacks: {profile.file}",
            )
            draw(profile.busy, out_dir, chart)
            charts.append(chart)
    return charts


def _bars(busy: stacks.Stacks) -> list[tuple[float, int, float, str, str]]:
    """(left, depth, width, frame, thread class) of each bar, widths as shares."""
    total = busy.total()
    # A trie of the stacks, frames without line numbers: {frame: [count, children]}.
    root: dict[str, list] = {}
    for stack, count in busy.items():
        level = root
        for frame in [stack[0], *map(stacks.frame_key, stack[1:MAX_DEPTH])]:
            node = level.setdefault(frame, [0, {}])
            node[0] += count
            level = node[1]
    bars: list[tuple[float, int, float, str, str]] = []

    def walk(level: dict[str, list], left: float, depth: int, kind: str) -> None:
        for frame in sorted(level):
            count, children = level[frame]
            width = count / total
            if width >= MIN_SHARE:
                klass = stacks.thread_class((frame,)) if depth == 0 else kind
                bars.append((left, depth, width, frame, klass))
                walk(children, left, depth + 1, klass)
            left += width

    walk(root, 0.0, 0, stacks.OTHER)
    return bars


def _color(frame: str, klass: str, depth: int) -> str:
    if depth == 0:
        return CLASS_COLORS[klass]
    # Warm hues, stable per function (the same frame keeps its colour across charts).
    h = zlib.crc32(frame.encode())
    return f"#{0xE0 + h % 0x20:02x}{0x60 + (h >> 8) % 0x80:02x}{0x30 + (h >> 16) % 0x30:02x}"


def draw(busy: stacks.Stacks, out_dir: Path, chart: Chart) -> None:
    bars = _bars(busy)
    depth = max((b[1] for b in bars), default=0) + 1
    fig, ax = figure(height_in=1.0 + depth * ROW_IN)
    fig.set_size_inches(WIDTH_IN, 1.0 + depth * ROW_IN)
    ax.bar(
        [b[0] for b in bars],
        0.95,
        width=[b[2] for b in bars],
        bottom=[b[1] for b in bars],
        align="edge",
        color=[_color(b[3], b[4], b[1]) for b in bars],
        edgecolor="white",
        linewidth=0.3,
    )
    for left, level, width, frame, _ in bars:
        name = frame.split(" (")[0] if level else frame
        chars = int(width * WIDTH_IN / CHAR_IN)
        if chars >= 4:
            text = name if len(name) <= chars else name[: chars - 2] + ".."
            ax.text(left + 0.002, level + 0.45, text, fontsize=6, va="center", clip_on=True)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, depth)
    ax.set_yticks([])
    ax.grid(False)
    ax.xaxis.set_major_formatter(lambda x, _pos: f"{100 * x:.0f}%")
    ax.set_xlabel("share of the busy samples")
    ax.set_title(chart.title, fontsize="small")
    note(fig, "bottom: the thread (blue: event loop, orange: asgiref executor, grey: other)")
    save(fig, out_dir, chart.name)
