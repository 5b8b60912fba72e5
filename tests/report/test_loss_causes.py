"""The cause beside the loss: the channel layer's counted drops, summed over a point's
repeats, in the run's table notes and the report's summary (bench/report/losses.py)."""

from bench.report.losses import NOT_COUNTED, loss_cause
from bench.results.drops import LayerDrops
from bench.results.model import PointResult, Repeat, RepeatCounts
from bench.scenario import Point


def point(*repeats: tuple[int, LayerDrops | None]) -> PointResult:
    reps = []
    for i, (lost, drops) in enumerate(repeats):
        rep = Repeat(i, counts=RepeatCounts(expected=1000, lost=lost), layer_drops=drops)
        reps.append(rep)
    return PointResult(id="p", label="async capacity=100", point=Point(), repeats=reps)


def test_capacity_drops_named_beside_the_loss():
    line = loss_cause(
        point(
            (120, LayerDrops(group_send=100, group_send_max=130, group_send_keys=13)),
            (0, LayerDrops()),
        )
    )
    assert line == (
        "async capacity=100: lost 120 of 2,000 expected deliveries over 2 repeats (6.00%)"
        " - channel layer capacity: 100 to 130 group_send drops"
    )


def test_exact_drops_and_receive_buffer():
    drops = LayerDrops(group_send=7, group_send_max=7, receive_buffer=2, send_full=1)
    assert drops.cause() == (
        "channel layer capacity: 7 group_send drops, 2 receive-buffer drops, "
        "1 sends refused (ChannelFull)"
    )


def test_loss_without_drops_says_it_was_not_the_capacity():
    line = loss_cause(point((5, LayerDrops(processes=2))))
    assert line is not None
    assert line.endswith("the channel layer dropped nothing: not its capacity")


def test_uncounted_layers_say_so_and_no_loss_says_nothing():
    line = loss_cause(point((5, None)))
    assert line is not None and line.endswith(NOT_COUNTED)
    assert loss_cause(point((0, None))) is None
