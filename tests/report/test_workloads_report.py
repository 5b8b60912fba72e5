"""The report's workload and neighbour sections, on a real result relabelled: every
expected figure is computed here from the file's own repeats."""

import copy
import json
import statistics
from pathlib import Path

import pytest
from helpers import raw, scale_repeat

from bench.report import document, render, workloads
from bench.report.layout import Source, layout
from bench.results import store

REAL = Path(__file__).resolve().parents[1] / "data" / "quick_small.json"


def run_of(result: dict):
    return store.from_json(copy.deepcopy(result))


def median_of(point: dict, *path: str) -> float:
    return statistics.median(raw(point, *path))


def orm_result() -> dict:
    """The real points as the orm workload, and each async point again as orm-native
    with twice the throughput."""
    result = json.loads(REAL.read_text())
    natives = []
    for point in result["points"]:
        point["params"]["workload"] = "orm"
        if point["params"]["consumer"] == "async":
            native = copy.deepcopy(point)
            native["params"]["workload"] = "orm-native"
            for rep in native["repeats"]:
                if rep["status"] == "ok":
                    scale_repeat(rep, {"delivered_per_s": 2.0})
            natives.append(native)
    result["points"] += natives
    return result


def test_each_async_consumer_against_the_sync_one_of_its_workload():
    result = orm_result()
    headers, rows = workloads.workload_table(run_of(result))
    assert headers[1] == "workload" and headers[3] == "async/sync msg/s"
    by = {
        (p["params"]["consumer"], p["params"]["workload"], p["params"]["clients"]): p
        for p in result["points"]
    }
    clients = sorted({p["params"]["clients"] for p in result["points"]})
    assert [(r[0], r[1]) for r in rows] == [
        (f"closed loop, clients={c}", w) for c in clients for w in ("orm", "orm-native")
    ]
    for row in rows:
        c = int(row[0].rsplit("=", 1)[1])
        sync = median_of(by[("sync", "orm", c)], "throughput", "delivered_per_s")
        async_ = median_of(by[("async", row[1], c)], "throughput", "delivered_per_s")
        assert row[3] == f"{async_ / sync:.2f}x"
    # The native row doubles the orm row's ratio: both are against the same sync point.
    for orm, native in zip(rows[::2], rows[1::2], strict=True):
        assert float(native[3][:-1]) == pytest.approx(2 * float(orm[3][:-1]), abs=0.011)


def test_the_report_answers_the_tutorial_in_its_own_section():
    result = orm_result()
    lay = layout([Source("", run_of(result))])
    _, blocks = document.document(lay, [])
    text = render.markdown(blocks)
    section = text.split("## Workloads: the tutorial's note, measured")[1].split("\n## ")[0]
    assert "database_sync_to_async" in section and "async-native" in section
    assert "| closed loop, clients=10 | orm-native |" in section
    assert "## Neighbours" not in text  # no point had neighbours


def test_chat_alone_has_no_workload_section():
    result = json.loads(REAL.read_text())
    assert workloads.workload_table(run_of(result)) is None
    _, blocks = document.document(layout([Source("", run_of(result))]), [])
    assert "## Workloads" not in render.markdown(blocks)


def test_neighbours_against_the_same_clients_alone():
    result = json.loads(REAL.read_text())
    alone = [p for p in result["points"] if p["params"]["consumer"] == "async"]
    beside = copy.deepcopy(alone)
    for point in beside:
        point["params"].update(neighbour="sync/orm", neighbour_clients=10, neighbour_rate=5.0)
        for rep in point["repeats"]:
            if rep["status"] == "ok":
                scale_repeat(rep, {"p99_ms": 3.0})
    result["points"] = alone + beside
    headers, rows = workloads.neighbour_table(run_of(result))
    assert headers[1] == "neighbours"
    assert len(rows) == len(alone)
    for row, base in zip(rows, alone, strict=True):
        assert row[0] == "async chat"
        assert row[1] == "10 x sync/orm at 5.0/s"
        p99 = median_of(base, "latency_ms", "p99")
        assert row[2] == f"{p99:,.1f}" and row[3] == f"{3 * p99:,.1f}"
        assert row[4] == "3.00x"
        assert row[5] in ("worse", "uncertain")  # 3 repeats a side: uncertain at best
