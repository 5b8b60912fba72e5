"""The workloads end to end, on the private PostgreSQL (from pip): every message
delivered and every row written; the physics a blocking call must show; the neighbours."""

import json
from pathlib import Path

import pytest
from helpers import TINY_OPEN_LOAD, run_matrix

from bench.deploy.workloads import WORKLOADS

CONSUMERS_DIR = Path(__file__).resolve().parents[2] / "consumers"


def by_params(result: dict) -> dict[tuple[str, str], dict]:
    return {(p["point"]["consumer"], p["point"]["workload"]): p for p in result["points"]}


def test_the_routes_are_the_harness_workloads():
    """The site routes every workload the harness knows, for both flavours."""
    text = (CONSUMERS_DIR / "chat" / "routing.py").read_text()
    for workload in WORKLOADS:
        assert f'"{workload}": (' in text


@pytest.mark.timeout(240)
def test_every_workload_delivers_every_message_and_writes_every_row(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, result = run_matrix(
        tmp_path,
        f"""consumer = ["sync", "async"]
workload = {json.dumps(list(WORKLOADS))}
work_ms = 2.0
work_us = 200.0
"""
        + TINY_OPEN_LOAD,
    )
    assert code == 0
    assert result["environment"]["database_servers"]["postgres"].startswith("1")
    points = by_params(result)
    assert set(points) == {(c, w) for c in ("sync", "async") for w in WORKLOADS}
    for (consumer, workload), point in points.items():
        (rep,) = point["repeats"]
        where = f"{consumer} {workload}"
        assert rep["status"] == "ok", (where, rep.get("reason"))
        counts = rep["counts"]
        assert counts["lost"] == 0 and counts["expected"] == counts["delivered"] > 0, where
        assert counts["malformed"] == 0 and counts["disconnected"] == 0, where
        if WORKLOADS[workload].writes:
            db = rep["database"]
            assert db["kind"] == "postgres"
            assert db["rows"] == db["sent"] == counts["sent"] > 0, where
            assert rep["services"]["database"]["processes"], where
        else:
            assert rep["database"] is None, where
        assert not [w for w in rep["warnings"] if "lost writes" in w], where


@pytest.mark.timeout(180)
def test_a_blocking_call_caps_the_one_sync_thread(tmp_path):
    """A 10 ms blocking call per message: the sync consumer, and the async one through
    sync_to_async, share asgiref's one thread-sensitive thread, so one server process
    handles at most 100 messages a second however many clients wait; awaiting
    asyncio.sleep instead holds no thread, and 20 closed-loop clients get far more."""
    code, result = run_matrix(
        tmp_path,
        """consumer = ["sync", "async"]
workload = ["blocking", "blocking-native"]
work_ms = 10.0
clients = 20
clients_per_room = 1
mode = "closed"
warmup_s = 0.5
duration_s = 2.0
drain_quiet_s = 0.3
""",
    )
    assert code == 0
    points = by_params(result)

    def rate(consumer: str, workload: str) -> float:
        (rep,) = points[(consumer, workload)]["repeats"]
        return rep["throughput"]["delivered_per_s"]  # rooms of 1: a message, a delivery

    bound = 1000 / 10.0
    # The window's edges may catch a message in flight at each end: 5% of slack.
    assert rate("sync", "blocking") <= 1.05 * bound
    assert rate("sync", "blocking-native") <= 1.05 * bound  # the same sync consumer
    assert rate("async", "blocking") <= 1.05 * bound
    assert rate("async", "blocking-native") > 1.5 * bound


@pytest.mark.timeout(120)
def test_neighbours_load_the_server_and_stay_out_of_the_books(tmp_path, monkeypatch):
    """Ten sync orm neighbours beside four measured async chat clients: the books hold
    the four alone; the neighbours' figures and their rows are recorded apart."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, result = run_matrix(
        tmp_path,
        """consumer = "async"
neighbour = "sync/orm"
neighbour_clients = 10
neighbour_rate = 5.0
"""
        + TINY_OPEN_LOAD,
    )
    assert code == 0
    (point,) = result["points"]
    (rep,) = point["repeats"]
    assert rep["status"] == "ok", rep.get("reason")
    assert rep["counts"]["clients"] == 4 and rep["counts"]["connected"] == 4
    assert rep["counts"]["lost"] == 0
    neighbour = rep["neighbour"]
    assert neighbour["route"] == "sync/orm" and neighbour["clients"] == 10
    assert neighbour["sent_per_s"] > 0 and neighbour["delivered_per_s"] > 0
    db = rep["database"]
    # The measured clients chat (no rows); every row is a neighbour's message.
    assert db["rows"] == db["sent"] > 0


@pytest.mark.timeout(120)
def test_sqlite_keeps_every_row_too(tmp_path):
    """database = "sqlite": a file of the run's own, migrated, emptied per repeat."""
    code, result = run_matrix(
        tmp_path,
        """consumer = ["sync", "async"]
workload = "orm"
database = "sqlite"
"""
        + TINY_OPEN_LOAD,
    )
    assert code == 0
    assert "postgres" not in result["environment"]["database_servers"]
    for point in result["points"]:
        (rep,) = point["repeats"]
        assert rep["status"] == "ok", rep.get("reason")
        assert rep["database"]["kind"] == "sqlite"
        assert rep["database"]["rows"] == rep["database"]["sent"] == rep["counts"]["sent"] > 0
        assert rep["counts"]["lost"] == 0
        assert "database" not in rep["services"]  # a file: no process to watch
