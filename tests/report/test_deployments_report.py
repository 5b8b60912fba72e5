"""The report's deployment ranking, on a real result relabelled as a search over two
server kinds: expected figures computed here from the file's own repeats."""

import copy
import json
import statistics
from pathlib import Path

from helpers import raw, scale_repeat

from bench.report import deployments, document, render
from bench.report.layout import Source, layout
from bench.results import store

REAL = Path(__file__).resolve().parents[1] / "data" / "quick_small.json"


def searched() -> dict:
    """The real async point at 10 clients as four steps: daphne held 5 msg/s and broke at
    10; uvicorn held both, delivering twice as much at 10."""
    result = json.loads(REAL.read_text())
    base = next(
        p
        for p in result["points"]
        if p["params"]["consumer"] == "async" and p["params"]["clients"] == 10
    )
    points = []
    for server, rate, held, factor in (
        ("daphne", 5.0, True, 1.0),
        ("daphne", 10.0, False, 1.0),
        ("uvicorn", 5.0, True, 1.0),
        ("uvicorn", 10.0, True, 2.0),
    ):
        point = copy.deepcopy(base)
        point["params"].update(server=server, rate=rate, mode="open")
        point["search"] = {"within_bounds": held, "reason": None if held else "p99 too high"}
        for rep in point["repeats"]:
            if rep["status"] == "ok":
                scale_repeat(rep, {"delivered_per_s": factor})
        points.append(point)
    result["points"] = points
    result["saturation"] = {"bounds": {"p99_ms": 100.0, "loss": 0.001}, "groups": []}
    return result


def test_configurations_rank_by_what_they_sustained():
    result = searched()
    ranks = deployments.ranking(store.from_json(copy.deepcopy(result)))
    (async_,) = ranks.values()
    assert [e.configuration for e in async_] == ["server=uvicorn", "server=daphne"]
    assert [e.rate for e in async_] == [10.0, 5.0]
    uvicorn_10 = result["points"][3]
    delivered = statistics.median(raw(uvicorn_10, "throughput", "delivered_per_s"))
    cpu = statistics.median(raw(uvicorn_10, "server", "cpu_mean_percent"))
    assert async_[0].delivered_per_s == delivered
    assert async_[0].cpu_ms_per_1000 == 10_000 * cpu / delivered
    advice = deployments.advice(ranks)
    assert advice[0].startswith("async: pick server=uvicorn")
    assert "more than the next, server=daphne" in advice[0]


def test_the_report_has_the_ranking_only_for_a_search():
    run = store.from_json(searched())
    _, blocks = document.document(layout([Source("", run)]), [])
    text = render.markdown(blocks)
    assert "## Deployments: which configuration to pick" in text
    assert "| 1 | async | server=uvicorn | 10 |" in text
    plain = store.from_json(json.loads(REAL.read_text()))
    assert deployments.ranking(plain) is None
