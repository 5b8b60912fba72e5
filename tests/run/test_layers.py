"""A third-party channel layer by dotted path, end to end: channels-postgres on the
private PostgreSQL carries every message of both consumers, with two Daphne workers."""

import json

import pytest

from bench.cli import main

SCENARIO = """name = "layer-test"
[layers.postgres]
BACKEND = "channels_postgres.core.PostgresChannelLayer"
CONFIG = "{database}"

[matrix]
layer = "postgres"
consumer = ["sync", "async"]
workers = [1, 2]
clients = 4
clients_per_room = 4
mode = "open"
rate = 2.0
warmup_s = 0.5
duration_s = 1.0
drain_quiet_s = 0.5
"""


@pytest.mark.timeout(240)
def test_channels_postgres_carries_every_message(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO)
    results = tmp_path / "results"
    code = main(["run", str(path), "--results-dir", str(results), "--no-calibrate"])
    (file,) = results.glob("*.json")
    result = json.loads(file.read_text())
    assert code == 0, [r.get("reason") for p in result["points"] for r in p["repeats"]]
    assert result["scenario"]["layers"]["postgres"]["backend"].startswith("channels_postgres")
    assert len(result["points"]) == 4
    for point in result["points"]:
        where = f"{point['point']['consumer']} workers={point['point']['workers']}"
        (rep,) = point["repeats"]
        assert rep["status"] == "ok", (where, rep.get("reason"))
        counts = rep["counts"]
        assert counts["lost"] == 0 and counts["delivered"] == counts["expected"] > 0, where
        assert rep["services"]["database"]["processes"], where  # PostgreSQL is watched
        assert rep["database"] is None, where  # chat: no rows of ours to count
