"""``chanbench report`` on a real result: the files, the numbers in the text, the axes."""

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench import report, stats, store
from bench.cli import main

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
        ms, ma = stats.point_medians(sync), stats.point_medians(async_)
        thr = ma["delivered_per_s"] / ms["delivered_per_s"]
        p99 = ma["p99_ms"] / ms["p99_ms"]
        line = next(
            line
            for line in readme.splitlines()
            if line.startswith(f"- clients={clients}, memory layer:")
        )
        assert f"Async delivers {thr:.2f}x the messages per second of sync" in line
        assert f"at {p99:.2f}x its p99 latency" in line
        winner = "async wins" if thr >= 1.1 else "sync wins" if thr <= 1 / 1.1 else "a tie"
        assert winner in line


def test_warnings_and_caveats(real_report):
    readme = (real_report / "README.md").read_text()
    # 3 repeats: enough to judge spread (no few-repeats warning), and this machine's
    # sync clients=20 repeats spread widely (2,096 to 2,628 deliveries/s).
    assert "Fewer than 3 successful repeats" not in readme
    assert "sync clients=20: delivered_per_s: spread is wide" in readme
    assert "Clients and server ran on the same machine (2 CPUs)" in readme
    assert "The load generator's ceiling (against a minimal reference server) was" in readme


def test_html_matches_the_readme(real_report):
    page = (real_report / "index.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    for name in CHARTS:
        assert f'<img src="{name}.png"' in page and f'<a href="{name}.svg">' in page
    assert "<h2>Summary</h2>" in page and "<h2>Reproduce</h2>" in page


def test_failed_repeats_lost_messages_and_saturation_are_warned(tmp_path, capsys):
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
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(result))
    out_dir = tmp_path / "report"
    assert main(["report", str(path), "-o", str(out_dir)]) == 0
    readme = (out_dir / "README.md").read_text()
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
    assert main(["report"]) == 0
    index = tmp_path / "reports" / newest.stem / "index.html"
    assert index.is_file()
    assert f"report: {index} (8 charts" in capsys.readouterr().out


def test_bad_result_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "poi')
    assert main(["report", str(bad), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not valid JSON" in err
    assert not (tmp_path / "out").exists()


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


def test_x_axis_is_the_key_that_varies():
    lay = report.layout([report.Source("", synthetic("rate", [5.0, 10.0, 20.0]))])
    assert lay.x_key == "rate"
    assert [x for x, _ in lay.lines[0].points] == [5.0, 10.0, 20.0]
    assert {line.consumer for line in lay.lines} == {"sync", "async"}
    # Clients varies too: clients wins the axis, rate splits the lines; but a saturation
    # search always steps rate, so rate stays on the axis there.
    both = synthetic("rate", [5.0, 10.0])
    both["points"][0]["params"]["clients"] = 20
    both["points"][2]["params"]["clients"] = 20
    assert report.layout([report.Source("", both)]).x_key == "clients"
    both["scenario"]["search"] = {"p99_ms": 100.0, "loss": 0.001}
    assert report.layout([report.Source("", both)]).x_key == "rate"


def test_categorical_x_axis_draws(tmp_path):
    charts = report.write_charts(
        [report.Source("", synthetic("mode", ["closed", "open"]))], tmp_path
    )
    assert "throughput" in [c.name for c in charts]
    assert (tmp_path / "spectrum_mode-open.png").is_file()


def test_overlaid_files_get_one_line_each_per_consumer():
    a, b = json.loads(REAL.read_text()), json.loads(REAL.read_text())
    labels = report.source_labels([Path("x/run.json"), Path("y/run.json")])
    assert labels == ["run", "run#2"]
    lay = report.layout([report.Source(labels[0], a), report.Source(labels[1], b)])
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
    # The monitor marked the end of the warm-up at window_s[0]; the warm-up began
    # warmup_s earlier, at the runner's t = 0.
    offset = report._phase_offset_s(rep, point)
    assert offset == pytest.approx(rep["server"]["window_s"][0] - point["params"]["warmup_s"])
    assert report._phase_offset_s({"server": {}}, point) is None
