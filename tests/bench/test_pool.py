"""How the client pool splits clients over worker processes."""

from bench.loadgen.pool import plan_workers
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


def test_a_plan_crosses_the_process_boundary_as_json():
    import json

    from bench.loadgen import WorkerPlan

    (plan,) = plan_workers(Point(clients=3, rooms=1), "ws://x/{room}/", "o", 7)
    again = WorkerPlan.from_json(json.loads(json.dumps(plan.to_json())))
    assert again == plan


def test_interleaved_points_alternate_their_order_repeat_by_repeat():
    from bench.run.runner import measuring_order

    step = ["sync", "async"]
    orders = [measuring_order(step, repeat) for repeat in range(4)]
    assert orders == [["sync", "async"], ["async", "sync"], ["sync", "async"], ["async", "sync"]]


def test_the_handshakes_in_flight_are_shared_by_the_workers():
    """However many workers, no more handshakes at once than a small accept backlog
    (Daphne's 50) holds: their sum, not each one's."""
    from bench.loadgen.clients import CONNECT_CONCURRENCY

    assert CONNECT_CONCURRENCY < 50
    for processes in (1, 2, 3, 4, 64):
        point = Point(clients=200, rooms=20, client_processes=processes)
        plans = plan_workers(point, "ws://x/{room}/", "o", 0)
        assert sum(p.connect_concurrency for p in plans) <= max(CONNECT_CONCURRENCY, len(plans))


def test_the_connect_budget_follows_the_clients_not_only_the_asked_rate():
    """12,000 clients asked at 2,000/s get the time a loaded server takes to accept them."""
    from bench.loadgen.pool import SLOWEST_ACCEPTS_PER_S, connect_budget_s

    fast = connect_budget_s(Point(clients=12000, connect_rate=2000), 12000)
    assert fast >= 12000 / SLOWEST_ACCEPTS_PER_S
    slow = connect_budget_s(Point(clients=100, connect_rate=10), 100)
    assert slow >= 100 / 10  # a slower asked rate still gets its own time
