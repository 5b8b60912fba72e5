"""Why deliveries were lost: two Daphne workers on channels_redis in closed loop, 20
clients, and the loss named as the channel layer's capacity drops, counted inside every
server process (consumers/mysite/drops.py, bench/run/drops.py).

At Channels' default capacity of 100 this case loses 0 to 37% of deliveries, depending on
whether one worker falls behind the other (a client waits for its own echo only, so the
faster worker's clients keep filling the slower one's queue): not every repeat loses.
A capacity of 1 overflows in every repeat; no warm-up, so the first drops fall in the
window. A capacity of 1,000 is the control: nothing dropped."""

import pytest
from helpers import run_matrix

MATRIX = """
consumer = "async"
layer = "redis"
workers = 2
clients = 20
clients_per_room = 10
mode = "closed"
capacity = [1, 1000]
warmup_s = 0.0
duration_s = 2.0
repeats = 2
"""


@pytest.mark.timeout(300)
def test_capacity_drops_are_named_beside_the_loss(tmp_path, capsys):
    code, result = run_matrix(tmp_path, MATRIX)
    out = capsys.readouterr().out
    assert code == 0, [r.get("reason") for p in result["points"] for r in p["repeats"]]
    small, large = sorted(result["points"], key=lambda p: p["point"]["capacity"])
    lossy = [r for r in small["repeats"] if r["counts"]["lost"]]
    assert lossy, [r["counts"] for r in small["repeats"]]
    for rep in lossy:
        drops = rep["layer_drops"]
        assert drops["processes"] in (1, 2)  # each worker that served a client
        assert drops["group_send"] >= 1 and drops["group_send_keys"] >= 1, drops
        assert drops["group_send"] <= drops["group_send_max"]
    # The run's table says why, beside the loss; so does each repeat's warning.
    assert "async capacity=1: lost " in out
    line = next(ln for ln in out.splitlines() if ln.startswith("async capacity=1: lost "))
    assert " - channel layer capacity: " in line and "group_send drops" in line, line
    for rep in large["repeats"]:
        drops = rep["layer_drops"]
        assert drops["group_send_max"] == drops["receive_buffer"] == 0, drops


MEMORY = """
consumer = ["sync", "async"]
layer = "memory"
clients = 20
clients_per_room = 10
mode = "open"
rate = 100.0
capacity = 1
warmup_s = 0.0
duration_s = 1.5
"""


@pytest.mark.timeout(300)
def test_in_memory_drops_are_the_loss(tmp_path):
    """The in-memory layer names each channel it drops for: its counted drops are the
    lost deliveries (no warm-up, so every drop is of a measured message; a start edge
    read late could only miss a few)."""
    code, result = run_matrix(tmp_path, MEMORY)
    assert code == 0, [r.get("reason") for p in result["points"] for r in p["repeats"]]
    for point in result["points"]:
        (rep,) = point["repeats"]
        drops, lost = rep["layer_drops"], rep["counts"]["lost"]
        assert drops["group_send"] == drops["group_send_max"] and drops["processes"] == 1
        assert 0.9 * lost <= drops["group_send"] <= lost and lost > 0, (lost, drops)
