"""What the channel layer dropped silently in a repeat (``Repeat.layer_drops``), and the
words that name it as the cause of a loss.

Counted inside chanbench's own site (``consumers/mysite/drops.py``), by every server
process, from the measured window's start to the end of the drain; ``None`` on a repeat
means not counted (a --target, a user's site, a layer that is neither the in-memory one
nor channels_redis' core one, or a site from before the counters)."""

from __future__ import annotations

from dataclasses import dataclass

from bench.results.record import Record
from bench.results.units import num


@dataclass
class LayerDrops(Record):
    """Drops summed over the server's processes; ``group_send`` and ``receive_buffer``
    are deliveries that never reached their consumer."""

    # Deliveries a group_send skipped because their channel was full, at least and at
    # most (in-memory: the ChannelFull group_send swallows, exact; channels_redis: the
    # channels of the Redis keys its Lua script skipped, which it counts but does not
    # name, so the fewest and the most the call's keys could have carried).
    group_send: int = 0
    group_send_max: int = 0
    # channels_redis only: the Redis keys its group_send skipped (one per server process
    # whose channels are in the group), as it counts them.
    group_send_keys: int = 0
    # channels_redis only: messages dropped from a full process-local receive buffer.
    receive_buffer: int = 0
    # ChannelFull raised to a direct send's caller: not silent, but a full channel too.
    send_full: int = 0
    # The server processes that reported (each worker writes its own counts).
    processes: int = 0

    @property
    def deliveries(self) -> int:
        """Deliveries the layer dropped without a word (at least)."""
        return self.group_send + self.receive_buffer

    def cause(self) -> str:
        """``channel layer capacity: 1,234 group_send drops``, or that it dropped none."""
        sent = num(self.group_send)
        if self.group_send_max > self.group_send:
            sent += f" to {num(self.group_send_max)}"
        parts = [
            f"{text} {what}"
            for n, text, what in (
                (self.group_send_max, sent, "group_send drops"),
                (self.receive_buffer, num(self.receive_buffer), "receive-buffer drops"),
                (self.send_full, num(self.send_full), "sends refused (ChannelFull)"),
            )
            if n
        ]
        if not parts:
            return "the channel layer dropped nothing: not its capacity"
        return "channel layer capacity: " + ", ".join(parts)
