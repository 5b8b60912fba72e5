"""The report's blocks as Markdown (``README.md``, readable on GitHub beside the charts)
and as HTML (``index.html``, opened from disk): two renderings, one content.

Markdown tables come from ``tables.render``, the one Markdown table (it escapes ``|``);
HTML escapes every text, since scenario descriptions and warnings are the user's.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from bench.report import tables
from bench.report.blocks import Block, Code, Figure, Heading, Items, Paragraph, Table

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


def markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        match block:
            case Heading(level, text):
                out.append("#" * level + " " + text)
            case Paragraph(text):
                out.append(text)
            case Code(text):
                out.append(f"```\n{text}\n```")
            case Items(items):
                out.append("\n".join(f"- {item}" for item in items))
            case Table(headers, rows):
                out.append(tables.render(headers, rows, markdown=True))
            case Figure(chart):
                out.append(
                    f"![{chart.title}]({chart.name}.png)\n\n"
                    f"{chart.caption} ([SVG]({chart.name}.svg))"
                )
    return "\n\n".join(out) + "\n"


def html_page(blocks: Sequence[Block], title: str) -> str:
    esc = html.escape
    body: list[str] = []
    for block in blocks:
        match block:
            case Heading(level, text):
                body.append(f"<h{level}>{esc(text)}</h{level}>")
            case Paragraph(text):
                body.append(f"<p>{esc(text)}</p>")
            case Code(text):
                body.append(f"<pre><code>{esc(text)}</code></pre>")
            case Items(items):
                body.append("<ul>\n" + "\n".join(f"<li>{esc(i)}</li>" for i in items) + "\n</ul>")
            case Table(headers, rows):
                head = "".join(f"<th>{esc(h)}</th>" for h in headers)
                cells = "\n".join(
                    "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows
                )
                body.append(
                    f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{cells}\n</tbody>\n</table>"
                )
            case Figure(chart):
                body.append(
                    f'<figure id="{esc(chart.name)}">\n'
                    f'<img src="{esc(chart.name)}.png" alt="{esc(chart.title)}" width="640">\n'
                    f"<figcaption>{esc(chart.caption)} "
                    f'(<a href="{esc(chart.name)}.svg">SVG</a>)</figcaption>\n</figure>'
                )
    # The empty icon stops the browser asking for /favicon.ico, which a file:// report lacks.
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>{esc(title)}</title>\n<link rel="icon" href="data:,">\n'
        f"<style>{HTML_STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
