"""The charts of a report, PNG and SVG: the only package that imports matplotlib.

Every chart puts sync and async on the same axes, one line per consumer and layer (and
per result file when several are overlaid); a line's markers are the medians over the
repeats and its bars span the repeats' minimum to maximum: with a handful of repeats a
range says more than a standard deviation would. Each file is written atomically through
``store.atomic_path``, so a report being redrawn is never half a chart.

``style`` is what they share, ``sweeps`` the charts along the varying key, ``per_load``
the spectrum and timeline of each load, ``flame`` the flame graph of each profiled point,
``churn`` each churn point's counters over its cycles and each staircase's memory against
its connections.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.report.charts.churn import churn_charts, staircase_charts
from bench.report.charts.flame import flame_charts
from bench.report.charts.per_load import phase_offset_s, spectrum_charts, timeline_charts
from bench.report.charts.sweeps import metric_charts
from bench.report.layout import MAX_LOADS_DRAWN, Chart, Source, layout

__all__ = ["phase_offset_s", "write_charts"]


def write_charts(sources: Sequence[Source], out_dir: Path) -> list[Chart]:
    """Draw every chart for ``sources`` (overlaid) into ``out_dir``; return what was drawn."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lay = layout(sources)
    charts = metric_charts(lay, out_dir)
    if len(lay.groups()) <= MAX_LOADS_DRAWN:
        charts += [*spectrum_charts(lay, out_dir), *timeline_charts(lay, out_dir)]
    charts += churn_charts(lay, out_dir) + staircase_charts(lay, out_dir)
    return charts + flame_charts(sources, out_dir)
