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
