"""The channel layer's silent drops, counted per server process, for chanbench.

Channels' layers drop a message without a word when its channel is full: the in-memory
layer's ``group_send`` swallows the ``ChannelFull`` its ``send`` raises; channels_redis'
``group_send`` skips a full channel inside its Lua script and only logs, at INFO, how
many it skipped; its receive buffer (``BoundedQueue``) drops its oldest message when a
process-local channel's buffer is full. The layers here are those layers, subclassed:
each override calls its parent and counts, nothing more, so the site behaves as with the
parent (channels_redis' core layer is in ``mysite.drops_redis``, imported only where the
site runs on it). The site uses them only when chanbench names a directory in
``CHANBENCH_DROPS_DIR`` (``mysite.layers``); each server process then writes its counts
to ``<pid>.json`` there, within ``WRITE_S`` of a change, and chanbench sums every
worker's files before and after a repeat's window (``bench/run/drops.py``).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer as _InMemory

DROPS_DIR = "CHANBENCH_DROPS_DIR"
# How soon after a drop a process writes its counts (one write per interval at most):
# chanbench waits three times this after a window before reading (bench/run/drops.py).
WRITE_S = 0.1
# channels_redis' group_send reports its skipped channel keys in this log line (the same
# words in its 2.x releases, before the Lua script): "%s of %s channels over capacity in
# group %s".
OVER_CAPACITY = "channels over capacity in group"

# group_send, group_send_max: the deliveries a group_send skipped (a full channel), at
# least and at most (channels_redis says how many keys it skipped, not which: see
# _deliveries); group_send_keys: the Redis keys channels_redis skipped (a process's
# channels share one); receive_buffer: messages dropped from a full receive buffer;
# send_full: ChannelFull raised to a direct send's caller (not silent, counted all the same).
COUNTS = dict.fromkeys(
    ("group_send", "group_send_max", "group_send_keys", "receive_buffer", "send_full"), 0
)
_lock = threading.Lock()
_pending: float | None = None  # when a write was scheduled (monotonic s)
_announced_pid: int | None = None
# Inside a group_send: the send() it makes counts a ChannelFull as a group_send drop; on
# channels_redis, how many channels each Redis key of the call carries.
_in_group_send: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "in_group_send", default=False
)
channel_keys: contextvars.ContextVar[dict[Any, int] | None] = contextvars.ContextVar(
    "keys", default=None
)


def count(*kinds: str, n: int = 1) -> None:
    """Add ``n`` to each of ``kinds``; the file follows within ``WRITE_S``, written from
    the event loop (no thread of ours: the server's thread count is measured)."""
    global _pending
    with _lock:  # a sync consumer's thread and the event loop may both count
        for kind in kinds:
            COUNTS[kind] += n
        now = time.monotonic()
        # A write is due already, unless the loop it was left to has ended (a loop
        # async_to_sync made for one call): then this count schedules its own.
        if _pending is not None and now - _pending < 2 * WRITE_S:
            return
        _pending = now
    try:
        asyncio.get_running_loop().call_later(WRITE_S, write_counts)
    except RuntimeError:  # no event loop in this thread: write now
        write_counts()


def write_counts() -> None:
    """This process's counts to ``<pid>.json`` in ``CHANBENCH_DROPS_DIR``, whole or not
    at all (chanbench may read at any moment)."""
    global _pending
    with _lock:
        now = dict(COUNTS)
        _pending = None
    directory = os.environ.get(DROPS_DIR)
    if not directory:
        return
    path = Path(directory) / f"{os.getpid()}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(now))
        os.replace(tmp, path)
    except OSError:
        pass  # the directory is gone (the repeat ended): nothing left to tell


def announce() -> None:
    """Write this process's counts once when its layer is made, so that chanbench knows
    every process that counts, drops or not (once per process: a forked worker too)."""
    global _announced_pid
    if _announced_pid != os.getpid():
        _announced_pid = os.getpid()
        write_counts()


class InMemoryChannelLayer(_InMemory):
    """Channels' in-memory layer; ``ChannelFull`` counted where ``send`` raises it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        announce()

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await super().send(channel, message)
        except ChannelFull:
            count(*(("group_send", "group_send_max") if _in_group_send.get() else ("send_full",)))
            raise

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        # Its sends run as tasks, which copy this context: they see the flag.
        token = _in_group_send.set(True)
        try:
            await super().group_send(group, message)
        finally:
            _in_group_send.reset(token)


class _OverCapacity(logging.Filter):
    """Counts channels_redis' "N of M channels over capacity" lines; lets a line through
    only as far as the logger's own level did before it was lowered to see them."""

    def __init__(self, passed: int) -> None:
        super().__init__()
        self.passed = passed

    def filter(self, record: logging.LogRecord) -> bool:
        if OVER_CAPACITY in str(record.msg) and record.args:
            skipped = int(record.args[0])
            low, high = _deliveries(skipped)
            count("group_send_keys", n=skipped)
            count("group_send", n=low)
            count("group_send_max", n=high)
        return record.levelno >= self.passed


def _deliveries(skipped_keys: int) -> tuple[int, int]:
    """The deliveries ``skipped_keys`` keys carried, at least and at most: the call's
    keys that carry the fewest channels, and those that carry the most (the same when
    every key carries as many, or all were skipped)."""
    per_key = sorted((channel_keys.get() or {}).values())
    if not per_key:  # a release that maps keys otherwise: a key is a channel at least
        return skipped_keys, skipped_keys
    return sum(per_key[:skipped_keys]), sum(per_key[-skipped_keys:])


def watch_redis_log() -> None:
    """Count channels_redis' over-capacity lines in this process (once)."""
    logger = logging.getLogger("channels_redis.core")
    if any(isinstance(f, _OverCapacity) for f in logger.filters):
        return
    logger.addFilter(_OverCapacity(logger.getEffectiveLevel()))
    logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
