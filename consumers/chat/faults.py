"""Consumers with injected faults, for testing chanbench itself (never benchmarked).

Each is the tutorial's async ``ChatConsumer`` with one fault added, routed at
``/ws/<name>/chat/<room>/`` when ``CHANBENCH_FAULT_CONSUMERS=1``:

- ``stall``: blocks the whole event loop once, ``CHANBENCH_STALL_MS`` (500) long, on the
  first message received ``CHANBENCH_STALL_AFTER_S`` (2.0) seconds after the first
  connection: a stalled server that open-loop latency must show.
- ``slow``: waits ``CHANBENCH_SLOW_MS`` (5) before each broadcast: a regression that a
  comparison must flag.
- ``probe``: calls ``chanbench_probe.on_receive()`` before each broadcast, when the server's
  environment has a package of that name: ``bisect``'s and ``history``'s tests install it
  from commits of a repository they make, one of which makes it slow.
"""

import asyncio
import importlib
import importlib.util
import os
import time

from django.urls import re_path

from .async_consumer import ChatConsumer

STALL_MS = float(os.environ.get("CHANBENCH_STALL_MS", "500"))
STALL_AFTER_S = float(os.environ.get("CHANBENCH_STALL_AFTER_S", "2.0"))
SLOW_MS = float(os.environ.get("CHANBENCH_SLOW_MS", "5"))

_first_connect_s: float | None = None
_stalled = False


class StallOnceConsumer(ChatConsumer):
    async def connect(self):
        global _first_connect_s
        if _first_connect_s is None:
            _first_connect_s = time.monotonic()
        await super().connect()

    async def receive(self, text_data):
        global _stalled
        if not _stalled and time.monotonic() - _first_connect_s >= STALL_AFTER_S:
            _stalled = True
            time.sleep(STALL_MS / 1000)  # blocks the event loop on purpose
        await super().receive(text_data)


class SlowConsumer(ChatConsumer):
    async def receive(self, text_data):
        await asyncio.sleep(SLOW_MS / 1000)
        await super().receive(text_data)


class ProbeConsumer(ChatConsumer):
    async def receive(self, text_data):
        if _probe is not None:
            _probe.on_receive()
        await super().receive(text_data)


_probe = (
    importlib.import_module("chanbench_probe")
    if importlib.util.find_spec("chanbench_probe")
    else None
)

websocket_urlpatterns = [
    re_path(r"ws/stall/chat/(?P<room_name>\w+)/$", StallOnceConsumer.as_asgi()),
    re_path(r"ws/slow/chat/(?P<room_name>\w+)/$", SlowConsumer.as_asgi()),
    re_path(r"ws/probe/chat/(?P<room_name>\w+)/$", ProbeConsumer.as_asgi()),
]
