"""How numbers are printed: one spelling for tables, reports, compare and the search
(none of which need import another's to print a latency)."""

from __future__ import annotations

import math

# A latency percentile past the messages that arrived (``stats.percentile_with_loss``):
# the one spelling in tables, reports, compare and the saturation search.
LOST = ">drain (lost)"


def num(value: float | None, spec: str = ",.0f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def ms(value: float | None, spec: str = ",.1f") -> str:
    """A latency in ms: ``LOST`` when +inf (the percentile is a lost message)."""
    if value is not None and math.isinf(value):
        return LOST
    return num(value, spec)
