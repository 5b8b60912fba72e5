"""Every server kind serves both consumers, watched as a whole process tree; several
Daphne or Uvicorn workers share one port and their rooms over Redis."""

import json

import pytest
from helpers import TINY_OPEN_LOAD, run_matrix

from bench.deploy.servers import SERVERS


@pytest.mark.timeout(240)
def test_every_server_serves_both_consumers_and_is_watched_whole(tmp_path):
    code, result = run_matrix(
        tmp_path,
        f"""server = {json.dumps(list(SERVERS))}
consumer = ["sync", "async"]
loop = "uvloop"
"""
        + TINY_OPEN_LOAD,
    )
    assert code == 0
    seen = set()
    for point in result["points"]:
        where = f"{point['point']['server']} {point['point']['consumer']}"
        (rep,) = point["repeats"]
        assert rep["status"] == "ok", (where, rep.get("reason"))
        counts = rep["counts"]
        assert counts["lost"] == 0 and counts["delivered"] == counts["expected"] > 0, where
        processes = rep["server"]["processes"]
        # The process that holds the clients' connections is watched, whether it is the
        # root (Daphne) or a worker under a supervisor (the others), with its threads.
        (holder,) = [p for p in processes if p["connections"]]
        assert holder["connections"] == 4, where
        assert holder["threads_max"] >= 1 and holder["cpu_percent"] > 0, where
        assert rep["server"]["threads_max"] >= holder["threads_max"], where
        seen.add(point["point"]["server"])
        # Its own version, read from its interpreter (as each kind declares it), the stack's.
        packages = point["software"]["packages"]
        kind = point["point"]["server"]
        assert packages["django"] and packages[kind], where
        assert set(packages) >= {p.name for p in SERVERS[kind].packages}, where
    assert seen == set(SERVERS)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
def test_two_workers_share_a_room_over_redis(tmp_path, monkeypatch, server):
    """One room of 20, connected slowly enough that both workers accept some: every
    member gets every message, whichever worker holds it."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    code, result = run_matrix(
        tmp_path,
        f"""server = "{server}"
workers = 2
layer = "redis"
consumer = "async"
clients = 20
clients_per_room = 20
connect_rate = 40.0
mode = "open"
rate = 2.0
warmup_s = 0.3
duration_s = 1.0
drain_quiet_s = 0.5
""",
    )
    assert code == 0
    (point,) = result["points"]
    (rep,) = point["repeats"]
    assert rep["status"] == "ok", rep.get("reason")
    assert rep["counts"]["lost"] == 0 and rep["counts"]["delivered"] > 0
    holders = [p["connections"] for p in rep["server"]["processes"] if p["connections"]]
    assert len(holders) == 2 and sum(holders) == 20, rep["server"]["processes"]
