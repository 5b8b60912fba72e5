"""Why deliveries were lost, beside the loss: what the channel layer dropped silently
(``Repeat.layer_drops``), in the run's table notes and the report's summary alike."""

from __future__ import annotations

from collections.abc import Sequence

from bench.results.drops import LayerDrops
from bench.results.model import PointResult
from bench.results.units import num

NOT_COUNTED = (
    "the channel layer's drops were not counted (chanbench counts them in its own site, "
    "on the in-memory and channels_redis core layers)"
)


def loss_cause(point: PointResult) -> str | None:
    """``async: lost 1,498 of 21,060 expected deliveries over 3 repeats (7.11%) -
    channel layer capacity: 1,480 to 1,620 group_send drops``; None without loss."""
    repeats = [r for r in point.ok_repeats() if r.counts is not None]
    lost = sum(r.counts.lost for r in repeats if r.counts)
    expected = sum(r.counts.expected for r in repeats if r.counts)
    if not lost:
        return None
    counted = [r.layer_drops for r in repeats if r.layer_drops is not None]
    if counted:
        total = LayerDrops()
        for drops in counted:
            for name in LayerDrops.__dataclass_fields__:
                setattr(total, name, getattr(total, name) + getattr(drops, name))
        cause = total.cause()
        if len(counted) < len(repeats):
            cause += f" (counted in {len(counted)} of {len(repeats)} repeats)"
    else:
        cause = NOT_COUNTED
    share = num(lost / expected, ".2%") if expected else "-"
    return (
        f"{point.label or point.id}: lost {num(lost)} of {num(expected)} expected deliveries "
        f"over {len(repeats)} repeat{'s' if len(repeats) != 1 else ''} ({share}) - {cause}"
    )


def loss_causes(points: Sequence[PointResult]) -> list[str]:
    """A line per point that lost deliveries."""
    return [line for line in map(loss_cause, points) if line]
