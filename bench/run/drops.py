"""The channel layer's silent drops in one repeat, as the server's processes counted them.

chanbench's own site counts them inside each server process (``consumers/mysite/drops.py``)
and writes them to ``<pid>.json`` in a directory named by ``CHANBENCH_DROPS_DIR``, one per
repeat: several workers behind one socket each write their own, which no request to one
of them could collect. The counts are read at the measured window's start and once the
drain is over, and each process's difference summed: the drops of the messages the loss
counts (to within the site's write interval, at the window's start).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench.results.drops import LayerDrops
from bench.scenario import Point

# The layers the site counts: the in-memory one and channels_redis' core one (the pub/sub
# layer has no capacity to drop past; a layer by dotted path is the user's).
COUNTED_LAYERS = ("memory", "redis")
# The site writes its counts every 0.1 s when they change (mysite.drops.WRITE_S); three
# intervals leave room for a busy process's thread to get the GIL.
READ_AFTER_S = 0.3
KINDS = ("group_send", "group_send_max", "group_send_keys", "receive_buffer", "send_full")


def drops_dir(log_dir: Path, stem: str, point: Point) -> Path | None:
    """A fresh directory for one repeat's counts, where chanbench's site can count them
    (its layer is one it counts; a churn point or a staircase has no window)."""
    if point.layer not in COUNTED_LAYERS or point.churn:
        return None
    directory = log_dir / f"{stem}.drops"
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.json"):  # a rerun into the same log folder
        old.unlink()
    return directory


def read_counts(directory: Path) -> dict[str, dict[str, int]]:
    """Each process's counts by PID, as last written (a file being replaced reads whole)."""
    out = {}
    for path in directory.glob("*.json"):
        try:
            counts = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(counts, dict):
            out[path.stem] = {k: int(counts.get(k, 0)) for k in KINDS}
    return out


class DropCounter:
    """Read at the window's ``start`` edge, then ``finish`` after the drain."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.before: dict[str, dict[str, int]] = {}

    def edge(self, name: str) -> None:
        if name == "start" and self.directory is not None:
            self.before = read_counts(self.directory)

    def finish(self) -> LayerDrops | None:
        """The drops since the start edge, every process summed; None when no process
        wrote any counts (a site without the counters)."""
        if self.directory is None:
            return None
        time.sleep(READ_AFTER_S)
        after = read_counts(self.directory)
        if not after:
            return None
        drops = LayerDrops(processes=len(after))
        for pid, counts in after.items():
            was = self.before.get(pid, {})
            for kind in KINDS:
                setattr(drops, kind, getattr(drops, kind) + counts[kind] - was.get(kind, 0))
        return drops
