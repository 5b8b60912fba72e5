"""The site's counting layers (consumers/mysite/drops.py) behave as Channels' own and
count what they drop: the in-memory layer's swallowed ChannelFull, channels_redis' skipped
keys (from its own log line) and its receive buffer's evictions."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time

import pytest
from channels.exceptions import ChannelFull
from mysite import drops


@pytest.fixture(autouse=True)
def zero_counts():
    for kind in drops.COUNTS:
        drops.COUNTS[kind] = 0
    drops._pending = None


def test_in_memory_group_send_counts_what_it_drops():
    async def scenario() -> list[str]:
        layer = drops.InMemoryChannelLayer(capacity=1)
        first, second = await layer.new_channel(), await layer.new_channel()
        for channel in (first, second):
            await layer.group_add("room", channel)
        for n in range(3):  # the first fills each channel; two more each are dropped
            await layer.group_send("room", {"type": "m", "n": n})
        with pytest.raises(ChannelFull):  # a direct send still raises, and is counted
            await layer.send(first, {"type": "m"})
        got = [await layer.receive(c) for c in (first, second)]
        return [m["n"] for m in got]

    assert asyncio.run(scenario()) == [0, 0]  # Channels' own behaviour: the oldest kept
    assert drops.COUNTS["group_send"] == drops.COUNTS["group_send_max"] == 4
    assert drops.COUNTS["send_full"] == 1


def test_redis_over_capacity_line_counts_the_skipped_keys_channels():
    """channels_redis says how many keys it skipped, not which: at least the keys that
    carry the fewest channels, at most those that carry the most."""
    drops.watch_redis_log()
    logger = logging.getLogger("channels_redis.core")
    drops.channel_keys.set({b"asgi-a": 7, b"asgi-b": 3})
    logger.info("%s of %s channels over capacity in group %s", 1, 10, "chat_0")
    assert drops.COUNTS["group_send_keys"] == 1
    assert (drops.COUNTS["group_send"], drops.COUNTS["group_send_max"]) == (3, 7)
    logger.info("%s of %s channels over capacity in group %s", 2, 10, "chat_0")
    assert (drops.COUNTS["group_send"], drops.COUNTS["group_send_max"]) == (13, 17)


def test_redis_receive_buffer_counts_its_evictions():
    from mysite.drops_redis import CountedQueue

    queue = CountedQueue(2)
    for n in range(5):
        queue.put_nowait(n)
    assert [queue.get_nowait() for _ in range(2)] == [3, 4]  # channels_redis drops oldest
    assert drops.COUNTS["receive_buffer"] == 3


def test_each_process_writes_its_counts_soon_after_a_drop(tmp_path, monkeypatch):
    """What chanbench reads: ``<pid>.json`` in the directory it names, zeros as soon as
    the layer exists, then each drop within ``WRITE_S``, written from the event loop."""
    monkeypatch.setenv(drops.DROPS_DIR, str(tmp_path))
    monkeypatch.setattr(drops, "_announced_pid", None)
    path = tmp_path / f"{os.getpid()}.json"

    async def scenario() -> tuple[dict, dict]:
        layer = drops.InMemoryChannelLayer(capacity=1)
        announced = json.loads(path.read_text())
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        for n in range(3):
            await layer.group_send("room", {"type": "m", "n": n})
        await asyncio.sleep(3 * drops.WRITE_S)
        return announced, json.loads(path.read_text())

    announced, after = asyncio.run(scenario())
    assert announced["group_send"] == 0
    assert after["group_send"] == after["group_send_max"] == 2
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_a_write_left_to_an_ended_loop_is_scheduled_again(tmp_path, monkeypatch):
    """async_to_sync may run a call on a loop of its own that ends with it: the next
    count after the write was due writes all the same."""
    monkeypatch.setenv(drops.DROPS_DIR, str(tmp_path))
    path = tmp_path / f"{os.getpid()}.json"

    async def one_count() -> None:
        drops.count("receive_buffer")

    asyncio.run(one_count())  # its write was left to this loop, which has ended
    assert not path.exists()
    time.sleep(3 * drops.WRITE_S)
    drops.count("receive_buffer")  # no loop here: written at once
    assert json.loads(path.read_text())["receive_buffer"] == 2
