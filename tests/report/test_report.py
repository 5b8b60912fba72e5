"""``chanbench report`` on a real result: the files, the numbers in the text, the axes."""

import copy
import json
import statistics
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import raw, scale_repeat

from bench import report
from bench.cli import main
from bench.report import document, provenance, render, tables
from bench.report.charts import phase_offset_s
from bench.report.layout import Source, layout
from bench.report.summary import summary_items
from bench.results import model as results
from bench.results import store

REAL = Path(__file__).resolve().parents[1] / "data" / "quick_small.json"
CHARTS = (
    "throughput",
    "latency",
    "threads",
    "cpu",
    "spectrum_clients-10",
    "spectrum_clients-20",
    "timeline_clients-10",
    "timeline_clients-20",
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# A chart is small: the report sits beside the results, often in git.
MAX_CHART_BYTES = 150_000


@pytest.fixture(scope="module")
def real_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("report")
    assert main(["report", str(REAL), "-o", str(out_dir)]) == 0
    return out_dir


def test_every_chart_in_png_and_svg(real_report):
    for name in CHARTS:
        png = (real_report / f"{name}.png").read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) < MAX_CHART_BYTES
        svg = real_report / f"{name}.svg"
        assert svg.stat().st_size < MAX_CHART_BYTES
        assert ET.parse(svg).getroot().tag.endswith("svg")
    assert not list(real_report.glob(".*.tmp")), "a temporary file was left behind"


def test_readme_has_the_sections_of_a_channels_load_test_report(real_report):
    readme = (real_report / "README.md").read_text()
    headings = [line for line in readme.splitlines() if line.startswith("#")]
    assert headings[0].startswith("# chanbench report: quick, 2026-11-24")
    assert headings[1:] == [
        "## Summary",
        "## Methodology",
        "## Versions",
        "## Charts",
        "## Warnings",
        "## Reproduce",
    ]
    for name in CHARTS:
        assert f"]({name}.png)" in readme and f"]({name}.svg)" in readme
    result = json.loads(REAL.read_text())
    assert f"```\n{result['command']}\n```" in readme
    assert result["environment"]["git"]["commit"] in readme
    assert "| channels | 4.3.2 |" in readme and "| daphne | 4.2.3 |" in readme


def test_summary_states_the_ratio_at_each_load(real_report):
    readme = (real_report / "README.md").read_text()
    result = json.loads(REAL.read_text())
    for clients in (10, 20):
        sync, async_ = (
            next(
                p
                for p in result["points"]
                if p["params"]["clients"] == clients and p["params"]["consumer"] == c
            )
            for c in ("sync", "async")
        )
        # Medians straight from the file, not through the code under test.
        sync_thr, async_thr = (
            raw(sync, "throughput", "delivered_per_s"),
            raw(async_, "throughput", "delivered_per_s"),
        )
        thr = statistics.median(async_thr) / statistics.median(sync_thr)
        p99 = statistics.median(raw(async_, "latency_ms", "p99")) / statistics.median(
            raw(sync, "latency_ms", "p99")
        )
        line = next(
            line
            for line in readme.splitlines()
            if line.startswith(f"- clients={clients}, memory layer:")
        )
        assert f"Async delivers {thr:.2f}x the messages per second of sync" in line
        assert f"at {p99:.2f}x its p99 latency" in line
        # Who wins is significance.judge's verdict, as in `chanbench compare`: past the 10%
        # threshold AND a Mann-Whitney U test at p < 0.05. With this file's 3 repeats a
        # side the smallest p the test can reach is 2 / C(6, 3) = 0.1, so nobody wins:
        # "uncertain" where the throughputs are 10% apart and every repeat of one
        # consumer is beyond every repeat of the other, "not significant" otherwise.
        apart = min(async_thr) > max(sync_thr) or max(async_thr) < min(sync_thr)
        winner = "uncertain" if apart and abs(thr - 1) >= 0.1 else "not significant"
        assert winner in line and "wins" not in line


def test_warnings_and_caveats(real_report):
    readme = (real_report / "README.md").read_text()
    # 3 repeats: enough to judge spread (no few-repeats warning), and this machine's
    # sync clients=20 repeats spread widely (2,096 to 2,628 deliveries/s).
    assert "Fewer than 3 successful repeats" not in readme
    assert "sync clients=20: delivered_per_s: spread is wide" in readme
    assert "Clients and server ran on the same machine (2 CPUs)" in readme
    assert (
        "The load generator's ceiling for 20 clients in rooms of 10, measured in closed loop "
        "against a minimal reference server, was" in readme
    )


def test_html_matches_the_readme(real_report):
    page = (real_report / "index.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    for name in CHARTS:
        assert f'<img src="{name}.png"' in page and f'<a href="{name}.svg">' in page
    assert "<h2>Summary</h2>" in page and "<h2>Reproduce</h2>" in page


def test_failed_repeats_lost_messages_and_saturation_are_warned():
    result = json.loads(REAL.read_text())
    point = result["points"][0]
    point["repeats"][0] = {"repeat": 0, "status": "failed", "reason": "daphne exited"}
    point["repeats"][1]["warnings"] = [
        "client saturated: a client process used 97% of a core",
        "12 of 800 broadcasts lost (1.50%)",
    ]
    for rep in result["points"][1]["repeats"][:2]:
        rep["status"] = "failed"
    result["partial"] = True
    # The words only: drawing the charts is the other tests' business (and 2 s).
    _, blocks = document.document(layout([source(result)]), [])
    readme = render.markdown(blocks)
    warnings = readme.split("## Warnings")[1].split("## Reproduce")[0]
    assert "sync clients=10, repeat 0: failed: daphne exited" in warnings
    assert "sync clients=10, repeat 1: client saturated" in warnings
    assert "broadcasts lost (1.50%)" in warnings
    assert "Fewer than 3 successful repeats at some points" in warnings
    assert "The run was interrupted" in readme
    assert "Only 1 successful repeat(s)" in readme


def test_default_is_the_newest_result_into_reports(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    results.mkdir()
    newest = results / "20261124-172431_quick_014f7012.json"
    newest.write_text(REAL.read_text())
    monkeypatch.setattr(store, "newest", lambda: newest)
    monkeypatch.setattr(report, "REPORTS_DIR", tmp_path / "reports")
    # Which file and where: what gets drawn is test_every_chart_in_png_and_svg's business
    # (and 2 s of this one's).
    monkeypatch.setattr(report, "write_charts", lambda sources, out_dir: [])
    assert main(["report"]) == 0
    index = tmp_path / "reports" / newest.stem / "index.html"
    assert index.is_file()
    assert f"report: {index} (0 charts" in capsys.readouterr().out


def synthetic(key: str, values: list, search: bool = False) -> dict:
    """The real result with its points' ``key`` set to ``values`` in turn."""
    result = json.loads(REAL.read_text())
    template = [p for p in result["points"] if p["params"]["clients"] == 10]
    points = []
    for value in values:
        for point in copy.deepcopy(template):
            point["params"][key] = value
            points.append(point)
    result["points"] = points
    result["scenario"]["search"] = {"p99_ms": 100.0, "loss": 0.001} if search else None
    return result


def source(result: dict, label: str = "") -> Source:
    """A result dict (version 1, as in the file) as the typed run a report reads."""
    return Source(label, store.from_json(copy.deepcopy(result)))


def test_x_axis_is_the_key_that_varies():
    lay = layout([source(synthetic("rate", [5.0, 10.0, 20.0]))])
    assert lay.x_key == "rate"
    assert [x for x, _ in lay.lines[0].points] == [5.0, 10.0, 20.0]
    assert {line.consumer for line in lay.lines} == {"sync", "async"}
    # Clients varies too: clients wins the axis, rate splits the lines; but a saturation
    # search always steps rate, so rate stays on the axis there.
    both = synthetic("rate", [5.0, 10.0])
    both["points"][0]["params"]["clients"] = 20
    both["points"][2]["params"]["clients"] = 20
    assert layout([source(both)]).x_key == "clients"
    both["scenario"]["search"] = {"p99_ms": 100.0, "loss": 0.001}
    assert layout([source(both)]).x_key == "rate"


def png_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Draw PNG alone where a test checks what is drawn, not its formats (both formats are
    checked once, by test_every_chart_in_png_and_svg): it halves the drawing time."""
    from bench.report.charts import style

    monkeypatch.setattr(style, "FORMATS", ("png",))


def test_categorical_x_axis_draws(tmp_path, monkeypatch):
    from bench.report.charts import per_load, sweeps

    png_only(monkeypatch)

    lay = layout([source(synthetic("mode", ["closed", "open"]))])
    charts = sweeps.metric_charts(lay, tmp_path) + per_load.spectrum_charts(lay, tmp_path)
    assert "throughput" in [c.name for c in charts]
    assert (tmp_path / "spectrum_mode-open.png").is_file()


def test_overlaid_files_get_one_line_each_per_consumer():
    a, b = json.loads(REAL.read_text()), json.loads(REAL.read_text())
    labels = report.source_labels([Path("x/run.json"), Path("y/run.json")])
    assert labels == ["run", "run#2"]
    # Long names (scenario and overrides) keep the legend short: time and commit.
    long = "20261125-173721_quick+clients=10+repeats=5+duration_s=1.0+consumer=async_5f5405ef"
    assert report.source_labels([Path(f"{long}.json"), Path(f"x/{long}.json")]) == [
        "20261125-173721_..._5f5405ef",
        "20261125-173721_..._5f5405ef#2",
    ]
    lay = layout([source(a, labels[0]), source(b, labels[1])])
    names = [line.label(lay.multi_source) for line in lay.lines]
    assert names == [
        "run sync memory",
        "run async memory",
        "run#2 sync memory",
        "run#2 async memory",
    ]


def test_timeline_puts_server_samples_on_the_runners_clock():
    result = json.loads(REAL.read_text())
    point = result["points"][0]
    rep = point["repeats"][0]
    typed = source(result).run.points[0]
    # The monitor marked the end of the warm-up at window_s[0]; the warm-up began
    # warmup_s earlier, at the runner's t = 0.
    offset = phase_offset_s(typed.repeats[0], typed)
    assert offset == pytest.approx(rep["server"]["window_s"][0] - point["params"]["warmup_s"])
    no_window = results.Repeat(repeat=0, server=results.MonitorSummary())
    assert phase_offset_s(no_window, typed) is None


def pair(repeats: int, mode: str = "closed", **async_factors: float) -> dict:
    """The real clients=10 sync and async points, each with ``repeats`` copies of sync's
    first repeat (copy i nudged by 1% * i, so no two values tie), async's ``async_factors``
    metrics scaled: the right verdict is known in advance."""
    result = json.loads(REAL.read_text())
    points = [p for p in result["points"] if p["params"]["clients"] == 10]
    template = next(r for r in points[0]["repeats"] if r["status"] == "ok")
    assert points[0]["params"]["consumer"] == "sync"
    for point in points:
        point["params"]["mode"] = mode
        reps = []
        for i in range(repeats):
            rep = copy.deepcopy(template)
            rep["repeat"] = i
            scale_repeat(rep, dict.fromkeys(results.METRICS, 1 + 0.01 * i))
            if point["params"]["consumer"] == "async":
                scale_repeat(rep, async_factors)
            reps.append(rep)
        point["repeats"] = reps
    result["points"] = points
    return result


def summary_of(result: dict) -> str:
    src = source(result)
    (item,) = summary_items(layout([src]), src)
    return item


@pytest.mark.parametrize(
    ("repeats", "mode", "factors", "verdict"),
    [
        # Twice the throughput, 4 repeats a side all apart: p = 2/70 < 0.05.
        (4, "closed", {"delivered_per_s": 2.0}, "async wins"),
        # Open loop: p99 decides; twice sync's p99 loses, whatever the throughput.
        (5, "open", {"p99_ms": 2.0, "delivered_per_s": 1.5}, "sync wins"),
        # 2% apart, under the 10% threshold however many repeats.
        (6, "closed", {"delivered_per_s": 1.02}, "not significant"),
    ],
)
def test_summary_verdict_is_the_compare_rule(repeats, mode, factors, verdict):
    item = summary_of(pair(repeats, mode, **factors))
    assert item.startswith(f"clients=10, memory layer: {verdict}.")
    assert f"over {repeats} async and {repeats} sync repeats" in item


def test_two_repeats_a_side_are_uncertain_however_far_apart():
    item = summary_of(pair(2, delivered_per_s=2.0))
    assert item.startswith("clients=10, memory layer: uncertain.")
    assert "wins" not in item
    # 2 against 2 can never reach p < 0.05: the least p is 2 / C(4, 2) = 0.33.
    assert "the smallest p they can reach is 0.33" in item
    assert "takes 4 repeats a side (--set repeats=4)" in item
    assert "Async delivers 2.00x the messages per second of sync" in item


def test_versions_show_the_software_each_server_reported():
    result = json.loads(REAL.read_text())
    for point in result["points"]:
        point["software"] = {"python": "3.12.1", "packages": {"daphne": "4.2.3", "uvloop": None}}
    result["points"][0]["software"] = {"python": "3.13.0"}
    readme = render.markdown(provenance.version_blocks(source(result)))
    # The runner's own packages first, then one table per distinct server software.
    assert "| channels | 4.3.2 |" in readme
    assert "reported (sync clients=10):\n\n| component | version |" in readme
    assert "| python | 3.13.0 |" in readme
    assert "reported (async clients=10, sync clients=20, async clients=20):" in readme
    assert "| python | 3.12.1 |\n| daphne | 4.2.3 |\n| uvloop | - |" in readme
    # Version 1 files have no software: the runner's table alone.
    assert "reported" not in render.markdown(
        provenance.version_blocks(source(json.loads(REAL.read_text())))
    )


def test_environments_that_resolved_alike_share_one_table_and_are_said_to():
    """Issue 12: two virtualenvs with the same versions are one table, both interpreters
    listed, and the report says the packages are not what tells them apart."""
    result = json.loads(REAL.read_text())
    for i, point in enumerate(result["points"]):
        env = "ab"[i % 2]
        point["params"]["env"] = env
        point["software"] = {
            "python": "3.11.7",
            "executable": f"/envs/{env}/bin/python",
            "packages": {"channels": "4.3.2"},
        }
    readme = render.markdown(provenance.version_blocks(source(result)))
    assert "reported (every point):" in readme
    assert "| interpreter | /envs/a/bin/python |\n| interpreter | /envs/b/bin/python |" in readme
    assert "Environments a, b resolved to the same versions" in readme
    for point in result["points"][1::2]:
        point["software"]["packages"]["channels"] = "4.1.0"
    readme = render.markdown(provenance.version_blocks(source(result)))
    assert "resolved to the same versions" not in readme


# --- Issue 9: loss in the percentiles, closed-loop latency, which percentile ----------------


def with_loss(point: dict, loss: float) -> None:
    """Every repeat of ``point`` with ``loss`` of its expected deliveries missing: what
    arrived (and its histogram) as it was, more expected."""
    for rep in point["repeats"]:
        counts = rep["counts"]
        counts["expected"] = round(counts["delivered"] / (1 - loss))
        counts["lost"] = counts["expected"] - counts["delivered"]
        rep["loss_ratio"] = counts["lost"] / counts["expected"]


def test_closed_loop_latency_is_not_a_second_finding():
    """Item 3: in closed loop the p99 ratio restates the throughput ratio (Little's law);
    the summary says so, and gives no latency verdict there."""
    item = summary_of(pair(5, delivered_per_s=2.0, p99_ms=0.5))
    assert item.startswith("clients=10, memory layer: async wins.")
    assert "No latency verdict in closed loop" in item
    assert "Little's law" in item
    assert "2.00x the messages at 0.50x the p99 is one fact, not two" in item
    opened = summary_of(pair(5, "open", p99_ms=0.5))
    assert opened.startswith("clients=10, memory layer: async wins.")
    assert "Little's law" not in opened


def test_open_loop_latency_verdict_needs_both_within_the_loss_bound():
    """Item 2: a sync consumer that lost 10% used to lose on the p99 of what it delivered;
    past the loss bound no latency verdict is given, and its p99 reads as lost."""
    result = pair(5, "open", p99_ms=0.5)
    with_loss(result["points"][0], 0.10)  # sync
    item = summary_of(result)
    assert item.startswith(
        "clients=10, memory layer: no latency verdict: sync lost 10.00% (latency is judged "
        "only within the 0.10% loss bound)"
    ), item
    assert "vs >drain (lost) (sync)" in item
    assert "losing 0.00% vs 10.00%" in item


def test_a_p99_past_the_lost_messages_reads_as_lost(tmp_path, monkeypatch):
    """Item 2: a point with 10% lost has its p99 among the lost messages: the table says
    so, beside the p99 of the messages that arrived; the charts still draw."""
    png_only(monkeypatch)
    result = json.loads(REAL.read_text())
    lossy = result["points"][0]
    with_loss(lossy, 0.10)
    index = report.write_report([source(result)], tmp_path)
    readme = (index.parent / "README.md").read_text()
    header = next(line for line in readme.splitlines() if line.startswith("| point |"))
    assert "| p99 ms, delivered only |" in header
    row = next(
        line for line in readme.splitlines() if line.startswith("| sync memory clients=10 |")
    )
    cells = [c.strip() for c in row.strip("|").split("|")]
    columns = [c.strip() for c in header.strip("|").split("|")]
    by_column = dict(zip(columns, cells, strict=True))
    assert by_column["p99 ms"] == ">drain (lost)"
    assert by_column["p99.9 ms"] == ">drain (lost)"
    assert by_column["p50 ms"] not in ("-", ">drain (lost)")  # the delivered p55.6
    assert float(by_column["p99 ms, delivered only"]) > 0
    assert by_column["loss"] == "10.00%"
    for name in ("latency", "spectrum_clients-10"):
        assert (tmp_path / f"{name}.png").read_bytes().startswith(PNG_MAGIC)


def test_a_repeat_that_delivered_nothing_is_a_failed_sample():
    """Item 2: two repeats of three delivered nothing; they used to vanish from the
    latency, leaving the one that worked to stand for the point."""
    result = json.loads(REAL.read_text())
    point = result["points"][0]
    for rep in point["repeats"][:2]:
        rep["counts"]["delivered"] = rep["counts"]["received_in_window"] = 0
        rep["counts"]["lost"] = rep["counts"]["expected"]
        rep["loss_ratio"] = 1.0
        rep["throughput"]["delivered_per_s"] = 0.0
        rep["latency_ms"] = dict.fromkeys(rep["latency_ms"])
        rep["latency_histogram"] = ""
    src = source(result)
    typed = src.run.points[0]
    assert len(typed.values("p99_ms")) == 3
    assert typed.median("p99_ms") == float("inf")
    assert typed.median("delivered_per_s") == 0.0
    table = render.markdown([document.results_table(layout([src]), src)])
    row = next(line for line in table.splitlines() if "sync memory clients=10" in line)
    assert "| >drain (lost) |" in row


def test_each_table_and_chart_says_which_percentile(real_report):
    """Item 4: per-repeat percentiles (medians over repeats) in tables and the latency
    chart; merged histograms in the spectra: each says which, in the image too."""
    readme = (real_report / "README.md").read_text()
    assert "median over repeats of each repeat's percentile" in readme
    assert "The spectrum charts merge every repeat's histogram instead." in readme
    assert "every repeat's histogram merged (not the tables' median over repeats)" in readme
    latency_svg = (real_report / "latency.svg").read_text()
    assert "median over repeats of each repeat&#39;s percentile" in latency_svg or (
        "median over repeats of each repeat's percentile" in latency_svg
    )
    assert (
        "merged histogram of all repeats" in (real_report / "spectrum_clients-10.svg").read_text()
    )
    table = tables.run_table(store.from_json(json.loads(REAL.read_text())))
    assert "p50, p99: median over repeats of each repeat's percentile" in table
