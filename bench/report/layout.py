"""What a report shows, before anything is drawn: the result files, what varies between
their points, the x axis, and the lines through the points.

Charts and text both read this one layout, so a point has the same name in a chart's
title, a table row and a summary sentence. No matplotlib here: the text, ``chanbench
compare`` and the tests use the layout without paying for a plotting library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.judge import stats
from bench.results import model as results
from bench.results.model import PointResult, Run

# Keys that draw separate lines rather than an axis.
LINE_KEYS = ("consumer", "layer")
# The x axis: the first of these that varies (a saturation search always steps rate).
X_PREFERENCE = ("clients", "rate", "rooms", "clients_per_room", "message_bytes")
X_LABELS = {
    "clients": "clients (websocket connections)",
    "rate": "messages/s per client (open loop)",
    "rooms": "rooms",
    "clients_per_room": "clients per room",
    "message_bytes": "message size (bytes)",
}
CONSUMER_ORDER = ("sync", "async")

Extra = tuple[tuple[str, Any], ...]  # the other varying keys a line holds fixed


# A spectrum and a timeline per load: past this many loads (a saturation search over
# many configurations) they would be most of the report and say little; the result file
# keeps every histogram and series.
MAX_LOADS_DRAWN = 16


@dataclass
class Source:
    """One result file in a report; ``label`` names its lines when several are overlaid."""

    label: str
    run: Run
    path: Path | None = None


@dataclass
class Chart:
    """A chart written as ``<name>.png`` and ``<name>.svg`` in the report directory."""

    name: str
    title: str
    caption: str


@dataclass
class Line:
    """Points of one source, consumer, layer and fixed other keys, along the x axis."""

    source: Source
    consumer: str
    layer: str
    extra: Extra
    points: list[tuple[Any, PointResult]] = field(default_factory=list)

    def label(self, multi_source: bool) -> str:
        parts = [self.source.label] if multi_source and self.source.label else []
        parts += [self.consumer, self.layer]
        parts += [f"{k}={v}" for k, v in self.extra]
        return " ".join(part for part in parts if part)


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
        """Numbers in numeric order, then names in the order the scenario lists them
        (chat, orm, orm-native... reads better than the alphabet)."""
        listed = [v for s in self.sources for v in s.run.scenario.matrix.get(self.x_key, [])]
        present = {x for line in self.lines for x, _ in line.points}
        named = list(dict.fromkeys([*listed, *sorted(present, key=sort_key)]))
        numbers = sorted((v for v in present if sort_key(v)[0] == 0), key=sort_key)
        return numbers + [v for v in named if v in present and sort_key(v)[0] != 0]

    def point_name(self, x: Any, extra: Extra) -> str:
        """``clients=10 rate=5.0``: the x value and the line's other keys."""
        return " ".join([f"{self.x_key}={x}", *(f"{k}={v}" for k, v in extra)])

    def groups(self) -> dict[tuple[Any, Extra], list[tuple[Line, PointResult]]]:
        """Points at the same load (x value and extra keys), across lines: one spectrum
        and one timeline chart each, with sync and async on the same axes."""
        out: dict[tuple[Any, Extra], list[tuple[Line, PointResult]]] = {}
        for line in self.lines:
            for x, point in line.points:
                out.setdefault((x, line.extra), []).append((line, point))
        return dict(sorted(out.items(), key=lambda kv: load_order(*kv[0])))


def sort_key(value: Any) -> tuple[int, Any]:
    """Numbers in numeric order, then strings, then anything else: mixed values sort."""
    if isinstance(value, tuple):
        return (2, str(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def load_order(x: Any, extra: Extra) -> tuple[tuple[int, Any], ...]:
    return (sort_key(x), *(sort_key(v) for _, v in extra))


def consumer_order(consumer: str) -> tuple[int, str]:
    """Sync before async, then anything else by name."""
    order = CONSUMER_ORDER.index(consumer) if consumer in CONSUMER_ORDER else len(CONSUMER_ORDER)
    return (order, consumer)


def layout(sources: Sequence[Source]) -> Layout:
    """Lines (source, consumer, layer, other varying keys) along the x key that varies."""
    points = [p for s in sources for p in s.run.points]
    varying = results.varying_keys([p.point for p in points], exclude=LINE_KEYS)
    searched = any(s.run.scenario.search for s in sources)
    preferred = ["rate", *X_PREFERENCE] if searched else list(X_PREFERENCE)
    x_key = next((k for k in preferred if k in varying), varying[0] if varying else "clients")
    lines: dict[tuple[Any, ...], Line] = {}
    for source in sources:
        for point in source.run.points:
            config = point.point
            extra = tuple((k, config.value(k)) for k in varying if k != x_key)
            consumer, layer = line_names(source.run, point)
            key = (id(source), consumer, layer, extra)
            if key not in lines:
                lines[key] = Line(source, consumer, layer, extra)
            lines[key].points.append((config.value(x_key), point))
    ordered = sorted(
        lines.values(),
        key=lambda ln: (
            sources.index(ln.source),
            consumer_order(ln.consumer),
            ln.layer,
            repr(ln.extra),
        ),
    )
    for line in ordered:
        line.points.sort(key=lambda xp: sort_key(xp[0]))
    return Layout(x_key, varying, ordered, list(sources))


# What a --target's points are called: chanbench knows neither its consumer nor its layer.
TARGET_NAME = "target"
# The layer of a --target whose routes the scenario names: the server's own, unseen.
TARGET_LAYER = "the target's own"
# The layer of a user's own site (--site): its settings' CHANNEL_LAYERS, not a layer key.
SITE_LAYER = "the site's own"


def line_names(run: Run, point: PointResult) -> tuple[str, str]:
    """The consumer and layer that name a point's line: for a --target, ``target`` and
    no layer, since chanbench did not start that server and saw neither."""
    if run.target and run.scenario.consumers:  # its routes named: consumers set apart
        return point.point.consumer, TARGET_LAYER
    if run.target:
        # Results written before a target was one system crossed it with consumer:
        # their points keep apart, by the consumer they were labelled with.
        crossed = len({p.point.consumer for p in run.points}) > 1
        return (f"{TARGET_NAME} {point.point.consumer}" if crossed else TARGET_NAME), ""
    if run.scenario.site is not None and "layer" not in run.scenario.matrix:
        # the user's project, with its own CHANNEL_LAYERS
        return point.point.consumer, SITE_LAYER
    return point.point.consumer, point.point.layer


def server_name(sources: Sequence[Source]) -> str:
    """``the server (daphne)``: the kinds chanbench started, or what it was given."""
    if all(s.run.target for s in sources):
        return "the target server"
    return f"the server ({param_values([s for s in sources if not s.run.target], 'server')})"


def median_range(point: PointResult, metric: str) -> tuple[float, float, float] | None:
    """(median, minimum, maximum) of ``metric`` over the point's successful repeats."""
    values = point.values(metric)
    med = stats.median(values)
    return None if med is None else (med, min(values), max(values))


def param_values(sources: Sequence[Source], key: str) -> str:
    """The distinct values of a key over every point, in order: ``daphne``."""
    values = (str(p.point.value(key)) for s in sources for p in s.run.points)
    return ", ".join(dict.fromkeys(values))


def scenario_names(sources: Sequence[Source]) -> str:
    return ", ".join(dict.fromkeys(s.run.scenario.name or "?" for s in sources))
