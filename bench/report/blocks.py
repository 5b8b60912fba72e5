"""The report's vocabulary: headings, paragraphs, code, lists, tables and figures.

``document`` and ``provenance`` build these blocks; ``render`` turns them into Markdown
and HTML, so the two renderings share one content.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.report.layout import Chart


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Items:
    items: list[str]


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Figure:
    chart: Chart


Block = Heading | Paragraph | Code | Items | Table | Figure
