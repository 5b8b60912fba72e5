"""The result model: merging workers' books, medians, JSON round trips, old schemas."""

import json
import statistics
from pathlib import Path

import numpy as np
import pytest

from bench.judge import stats
from bench.judge.compare import match_points
from bench.results import store
from bench.results.model import (
    Counts,
    PointResult,
    Repeat,
    RoomTally,
    Run,
    WorkerResult,
    varying_keys,
)
from bench.results.schema import SCHEMA_VERSION
from bench.results.store import from_json
from bench.scenario import KEYS, Point

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "results" / "2026-11-24" / "20261124-185815_quick_a686f7f5.json"


def worker(rooms, delivered, latencies_us, sent_measured=0, cpu_s=0.5):
    return WorkerResult(
        worker=0,
        clients=sum(t[0] for t in rooms.values()),
        counts=Counts(
            sent_measured=sent_measured, delivered=delivered, received_in_window=delivered
        ),
        connect_ms=[1.0],
        rooms={room: RoomTally(*tally) for room, tally in rooms.items()},
        latency_histogram=stats.encode_histogram(np.array(latencies_us, dtype=np.int64)),
        cpu_s=cpu_s,
        measured_s=2.0,
        drain_s=0.1,
    )


def merge(workers, clients=3, duration_s=2.0):
    return Repeat.from_workers(0, workers, clients=clients, duration_s=duration_s)


def test_merge_accounts_rooms_across_workers():
    # Room 0 has 2 members in worker A and 1 in worker B; 4 measured sends in all,
    # so 12 deliveries are expected; 11 arrived: one lost.
    a = worker({0: [2, 3, 7]}, 7, [1000] * 7, sent_measured=3)
    b = worker({0: [1, 1, 4]}, 4, [3000] * 4, sent_measured=1)
    merged = merge([a, b])
    counts = merged.counts
    assert counts.expected == 12
    assert counts.delivered == 11
    assert counts.lost == 1
    assert merged.loss_ratio == 1 / 12
    assert merged.latency_ms["count"] == 11
    assert merged.throughput.sent_per_s == 2.0
    assert merged.throughput.delivered_per_s == 5.5
    assert merged.clients.cpu_percent == [25.0, 25.0]


def test_counts_are_summed_field_by_field():
    a = Counts(sent=3, delivered=5, duplicated=1, malformed=2)
    b = Counts(sent=4, delivered=6, out_of_order=7, malformed=1)
    total = Counts.total([a, b])
    assert (total.sent, total.delivered, total.duplicated) == (7, 11, 1)
    assert (total.out_of_order, total.malformed, total.connected) == (7, 3, 0)


def test_point_medians_skip_failed_repeats():
    point = PointResult.from_json(
        {
            "id": "p",
            "label": "p",
            "point": {},
            "repeats": [
                {
                    "repeat": 0,
                    "status": "ok",
                    "throughput": {"delivered_per_s": 10.0},
                    "latency_ms": {"p99": 5.0},
                    "loss_ratio": 0.0,
                    "server": {"threads_max": 2},
                },
                {
                    "repeat": 1,
                    "status": "ok",
                    "throughput": {"delivered_per_s": 30.0},
                    "latency_ms": {"p99": 7.0},
                    "loss_ratio": 0.5,
                    "server": {"threads_max": 4},
                },
                {"repeat": 2, "status": "failed", "reason": "server died"},
            ],
        }
    )
    medians = point.medians()
    assert medians["delivered_per_s"] == 20.0
    assert medians["p99_ms"] == 6.0
    assert medians["threads"] == 3.0
    assert medians["loss_ratio"] == 0.25
    assert medians["cpu_percent"] is None


def test_the_reference_result_reads_as_the_current_schema():
    raw = json.loads(REFERENCE.read_text())
    assert raw["schema_version"] == 1
    run = from_json(json.loads(REFERENCE.read_text()))
    assert run.schema_version == SCHEMA_VERSION == 3
    assert len(run.points) == len(raw["points"])
    for point, old in zip(run.points, raw["points"], strict=True):
        assert point.point.workload == "chat"
        assert point.point.server == "daphne"
        assert point.point.fault == "none"
        assert point.point.consumer == old["params"]["consumer"]
        assert point.point.clients == old["params"]["clients"]
        assert point.point.env == "current"  # a key version 1 lacked, at its default
        assert "asgi_threads" not in point.to_json()["point"]  # it never sized that thread
        # Medians computed here from the raw JSON, not by the model under test.
        raw_values = [r["throughput"]["delivered_per_s"] for r in old["repeats"]]
        assert point.median("delivered_per_s") == statistics.median(raw_values)
    (calibration,) = run.calibrations
    assert calibration.deliveries_per_s == raw["calibration"]["deliveries_per_s"]
    # The reference run calibrated one shape of load (100 clients, rooms of 10) and
    # applied it to its 10-client points too; read now, those have no ceiling of their own.
    for point in run.points:
        mine = calibration if point.point.clients == 100 else None
        assert run.calibration_for(point.point) is mine


def test_a_run_survives_a_json_round_trip():
    run = from_json(json.loads(REFERENCE.read_text()))
    text = json.dumps(run.to_json())
    again = Run.from_json(json.loads(text))
    assert again == run
    assert isinstance(again.points[0].repeats[0].counts.delivered, int)


def test_version_1_fault_consumers_become_the_fault_key():
    run = from_json(
        {
            "schema_version": 1,
            "scenario": {"matrix": {"consumer": ["stall", "async"]}},
            "points": [
                {"id": "a", "label": "a", "params": {"consumer": "stall"}, "repeats": []},
                {"id": "b", "label": "b", "params": {"consumer": "sync"}, "repeats": []},
            ],
        }
    )
    assert run.points[0].point == Point(consumer="async", fault="stall")
    assert run.points[1].point == Point(consumer="sync", fault="none")
    assert run.scenario.matrix == {"consumer": ["async"], "fault": ["stall"]}


def test_version_2_params_become_the_typed_point():
    run = from_json(
        {
            "schema_version": 2,
            "scenario": {
                "name": "s",
                "layers": {"pg": {"BACKEND": "channels_postgres.core.L", "CONFIG": {"a": 1}}},
            },
            "calibrations": [{"params": {"clients": 20, "compression": True}}],
            "points": [
                {"id": "a", "label": "a", "params": {"clients": 20, "rate": 6.0}, "repeats": []}
            ],
        }
    )
    assert run.schema_version == 3
    assert run.points[0].point == Point(clients=20, rate=6.0)
    assert run.calibrations[0].point == Point(clients=20, compression=True)
    assert run.scenario.layers["pg"].backend == "channels_postgres.core.L"
    assert run.scenario.layers["pg"].config == {"a": 1}


def test_unknown_keys_from_a_newer_writer_are_ignored():
    rep = Repeat.from_json({"repeat": 3, "status": "ok", "from_the_future": [1, 2]})
    assert rep.repeat == 3 and rep.ok


def test_varying_keys_ignore_repeats_and_excluded_keys():
    points = [
        Point(consumer="sync", clients=10, repeats=3, layer="memory"),
        Point(consumer="async", clients=100, repeats=5, layer="memory"),
    ]
    assert varying_keys(points) == ["consumer", "clients"]
    assert varying_keys(points, exclude=("consumer",)) == ["clients"]


def test_each_shape_of_load_has_its_own_calibration():
    from bench.results.model import Calibration

    small = Calibration(point=Point(clients=10, clients_per_room=10), deliveries_per_s=5e4)
    big = Calibration(point=Point(clients=100, clients_per_room=10), deliveries_per_s=1.5e5)
    run = Run(calibrations=[small, big])
    assert run.calibration_for(Point(clients=100, clients_per_room=10, rate=5.0)) is big
    assert run.calibration_for(Point(clients=10, clients_per_room=10, mode="open")) is small
    assert run.calibration_for(Point(clients=50, clients_per_room=10)) is None


def test_a_version_2_files_environment_and_software_read_as_records():
    """The run's environment and each point's software, typed; what they said is kept,
    and ``versions()`` reads them as before."""
    path = REPO / "results" / "2026-11-30" / "20261130-215517_channels-4.2-hop_51019642.json"
    raw = json.loads(path.read_text())
    run = from_json(json.loads(path.read_text()))
    assert run.environment.to_json() == {"database_servers": None, **raw["environment"]}
    assert run.environment.git.commit == raw["environment"]["git"]["commit"]
    for point, old in zip(run.points, raw["points"], strict=True):
        assert point.software is not None
        software = {k: v for k, v in point.software.to_json().items() if v is not None}
        assert software == old["software"]
        packages = {k: "-" if v is None else v for k, v in old["software"]["packages"].items()}
        assert point.versions() == {"python": old["software"]["python"], **packages}


COMMITTED = sorted((REPO / "results").glob("2026-*/*.json"))


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name[:40])
def test_every_committed_result_reads_typed_and_matches_itself(path):
    """The dated reference runs (schema 1 and 2, and today's) read as today's model: every
    point a typed Point that survives a round trip, and compare pairs each point with
    itself."""
    raw = json.loads(path.read_text())
    assert raw["schema_version"] <= SCHEMA_VERSION
    run = store.read(path)
    for point, old in zip(run.points, raw["points"], strict=True):
        assert isinstance(point.point, Point)
        # Every key the old file had reads back with its value (schema 3: "point").
        for key, value in (old.get("params") or old["point"]).items():
            if key in KEYS and key not in ("consumer", "fault"):  # version 1 moved faults
                assert point.point.value(key) == value, key
    again = Run.from_json(json.loads(json.dumps(run.to_json())))
    assert again == run
    pairs, only_base, only_new = match_points(run, again)
    assert len(pairs) == len(run.points) and not only_base and not only_new
    if raw.get("saturation"):
        assert run.saturation is not None
        assert [g.to_json() for g in run.saturation.groups] == raw["saturation"]["groups"]
