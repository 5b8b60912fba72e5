"""channels_redis' core layer, its drops counted (``mysite.drops`` says what and why):
the same layer, each override calling its parent and counting."""

from __future__ import annotations

from typing import Any

from channels.exceptions import ChannelFull
from channels_redis import core

from mysite.drops import announce, channel_keys, count, watch_redis_log


class CountedQueue(core.BoundedQueue):
    """The receive buffer of one process-local channel."""

    def put_nowait(self, item: Any) -> None:
        if self.full():  # the parent drops its oldest message to make room
            count("receive_buffer")
        super().put_nowait(item)


class RedisChannelLayer(core.RedisChannelLayer):
    """channels_redis' core layer; its skipped channels and buffer drops counted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.receive_buffer.default_factory = lambda: CountedQueue(self.capacity)
        watch_redis_log()
        announce()

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await super().send(channel, message)
        except ChannelFull:
            count("send_full")
            raise

    def _map_channel_keys_to_connection(self, channel_names: Any, message: Any) -> Any:
        # How many channels each Redis key carries: the Lua script skips whole keys (a
        # process's channels share one), and says only how many it skipped.
        per_key: dict[Any, int] = {}
        for name in channel_names:
            key = self.prefix + (self.non_local_name(name) if "!" in name else name)
            per_key[key] = per_key.get(key, 0) + 1
        channel_keys.set(per_key)
        return super()._map_channel_keys_to_connection(channel_names, message)
