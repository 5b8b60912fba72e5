"""Reports: charts, ``index.html`` and ``README.md`` from result files, and the words of a
comparison.

One job per module, in the order the data flows:

- ``layout``: the result files (``Source``, each a ``bench.results.model.Run``), what varies
  between their points, the x axis and the lines; no matplotlib.
- ``charts``: the PNG and SVG charts drawn from the layout; the only package that imports
  matplotlib, and only ``write_charts`` / ``write_report`` import it.
- ``summary``: who wins at each load, sync or async: ``significance.judge``'s verdict, the
  rule ``chanbench compare`` uses, with the ratios behind it.
- ``workloads``, ``deployments``, ``environments``: the tables and answers of the sections
  a run has when it varies the workload, searches deployments or sets environments apart.
- ``blocks``: the report's vocabulary (headings, paragraphs, tables, figures...).
- ``document``: the report's text as blocks, section by section (summary, results table,
  caveats, and the sections above when the run has them); ``provenance`` adds how the run
  was made (methodology, versions, warnings, reproduce).
- ``render``: the blocks as Markdown and as HTML.
- ``tables``: plain-text and Markdown tables and number formats, shared by all of these.
- ``comparison``: ``chanbench compare``'s verdicts in words (terminal, Markdown, legend).

``write_report`` runs them in that order; ``chanbench compare`` calls ``write_charts`` to
overlay two runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.report import document, layout, render
from bench.report.layout import Chart, Source
from bench.results import store

__all__ = [
    "REPORTS_DIR",
    "Chart",
    "Source",
    "default_out_dir",
    "source_labels",
    "write_charts",
    "write_report",
]

REPORTS_DIR = Path(__file__).resolve().parents[2] / "reports"


# A legend entry longer than this squeezes the chart it labels to nothing.
MAX_LABEL = 40


def short_stem(path: Path) -> str:
    """A result file's stem, or for a long one (``<time>_<scenario+overrides>_<commit>``)
    its time and commit: the report lists the full names."""
    stem = path.stem
    parts = stem.split("_")
    if len(stem) > MAX_LABEL and len(parts) >= 3:
        return f"{parts[0]}_..._{parts[-1]}"
    return stem


def source_labels(paths: Sequence[Path]) -> list[str]:
    """Short, distinct labels for overlaid files: their stems (shortened when long),
    numbered if they clash."""
    labels: list[str] = []
    for path in paths:
        stem = short_stem(path)
        label = stem
        while label in labels:
            label = f"{stem}#{len(labels) + 1}"
        labels.append(label)
    return labels


def default_out_dir(paths: Sequence[Path]) -> Path:
    return REPORTS_DIR / "_vs_".join(p.stem for p in paths)


def write_charts(sources: Sequence[Source], out_dir: Path) -> list[Chart]:
    """Draw every chart for ``sources`` (overlaid) into ``out_dir``; return what was drawn."""
    from bench.report import charts  # matplotlib only when something is drawn

    return charts.write_charts(sources, out_dir)


def write_report(sources: Sequence[Source], out_dir: Path) -> Path:
    """Charts, ``index.html`` and ``README.md`` for ``sources`` into ``out_dir``; returns the
    path of ``index.html``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn = write_charts(sources, out_dir)
    title, blocks = document.document(layout.layout(sources), drawn)
    store.write_text(out_dir / "README.md", render.markdown(blocks))
    index = out_dir / "index.html"
    store.write_text(index, render.html_page(blocks, title))
    return index
