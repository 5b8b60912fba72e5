"""The runner's pure parts: how clients are split, how workers' counts merge, the flags."""

import numpy as np

from bench import stats
from bench.runner import client_warnings, merge_workers, plan_workers
from bench.scenario import Point


def test_plan_keeps_rooms_whole_when_there_are_enough():
    plans = plan_workers(Point(clients=12, rooms=4, client_processes=2), "ws://x/{room}/", "o", 0)
    assert [len(p.clients) for p in plans] == [6, 6]
    for plan in plans:
        assert {room % 2 for _, room in plan.clients} == {plan.worker}
    assert sorted(i for p in plans for i, _ in p.clients) == list(range(12))


def test_plan_splits_one_room_over_processes():
    plans = plan_workers(Point(clients=5, rooms=1, client_processes=2), "ws://x/{room}/", "o", 0)
    assert [len(p.clients) for p in plans] == [3, 2]


def worker(rooms, delivered, latencies_us, **extra):
    base = {
        "connected": 0,
        "compressed": 0,
        "connect_failures": 0,
        "connect_errors": {},
        "connect_ms": [1.0],
        "sent": 0,
        "sent_measured": 0,
        "duplicated": 0,
        "out_of_order": 0,
        "malformed": 0,
        "disconnected": 0,
        "closed_loop_timeouts": 0,
        "received_in_window": delivered,
        "cpu_s": 0.5,
        "measured_s": 2.0,
        "max_loop_lag_ms": 0.0,
        "drain_s": 0.1,
        "interrupted": False,
        "rooms": rooms,
        "delivered": delivered,
        "latency_histogram": stats.encode_histogram(np.array(latencies_us, dtype=np.int64)),
    }
    base.update(extra)
    return base


def test_merge_accounts_rooms_across_workers():
    # Room 0 has 2 members in worker A and 1 in worker B; 4 measured sends in all,
    # so 12 deliveries are expected; 11 arrived: one lost.
    a = worker({0: [2, 3, 7]}, 7, [1000] * 7, sent_measured=3)
    b = worker({0: [1, 1, 4]}, 4, [3000] * 4, sent_measured=1)
    merged = merge_workers(Point(clients=3, rooms=1, duration_s=2.0), [a, b])
    counts = merged["counts"]
    assert counts["expected"] == 12
    assert counts["delivered"] == 11
    assert counts["lost"] == 1
    assert merged["loss_ratio"] == 1 / 12
    assert merged["latency_ms"]["count"] == 11
    assert merged["throughput"]["sent_per_s"] == 2.0
    assert merged["throughput"]["delivered_per_s"] == 5.5
    assert merged["clients"]["cpu_percent"] == [25.0, 25.0]


def test_client_saturation_flag():
    merged = merge_workers(Point(clients=1), [worker({0: [1, 1, 1]}, 1, [5], cpu_s=1.9)])
    assert any(w.startswith("client saturated") for w in client_warnings(merged))
    calm = merge_workers(Point(clients=1), [worker({0: [1, 1, 1]}, 1, [5], cpu_s=0.2)])
    assert not any(w.startswith("client saturated") for w in client_warnings(calm))


def test_client_busier_than_the_server_is_saturated():
    merged = merge_workers(Point(clients=1), [worker({0: [1, 1, 1]}, 1, [5], cpu_s=1.4)])
    merged["server"] = {"cpu_mean_percent": 60.0}
    assert any(w.startswith("client saturated") for w in client_warnings(merged))
    merged["server"] = {"cpu_mean_percent": 100.0}
    assert not any(w.startswith("client saturated") for w in client_warnings(merged))


def test_near_the_ceiling_is_flagged():
    merged = merge_workers(Point(clients=1), [worker({0: [1, 1, 1]}, 1, [5], cpu_s=0.1)])
    merged["ceiling_fraction"] = 0.85
    assert any("ceiling" in w for w in client_warnings(merged))
