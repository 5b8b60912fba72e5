"""The worker's clock: the monotonic clock, shifted only where a test asks for it.

Every time a worker stamps (sends, arrivals, its window, its progress) comes from
``now_ns``, so that a test can give one worker a clock that disagrees with the
coordinator's, as another host's would, and check that the offset is measured and
corrected (``CHANBENCH_TEST_CLOCK_SHIFT_NS``, read once, at import). Without it,
``now_ns`` is ``time.monotonic_ns`` itself: no cost on the measured path.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

SHIFT_ENV = "CHANBENCH_TEST_CLOCK_SHIFT_NS"
SHIFT_NS = int(os.environ.get(SHIFT_ENV) or 0)


def _shifted() -> int:
    return time.monotonic_ns() + SHIFT_NS


now_ns: Callable[[], int] = _shifted if SHIFT_NS else time.monotonic_ns


def monotonic_ns(clock_ns: int) -> int:
    """A time of ``now_ns``'s clock on the system's monotonic clock (for a timerfd)."""
    return clock_ns - SHIFT_NS
