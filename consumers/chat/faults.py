"""Consumers with injected faults, for testing chanbench itself (never benchmarked).

Each is the tutorial's async ``ChatConsumer`` with one fault added, routed at
``/ws/<name>/chat/<room>/`` when ``CHANBENCH_FAULT_CONSUMERS=1``:

- ``stall``: blocks the whole event loop once, ``CHANBENCH_STALL_MS`` (500) long, on the
  first message received ``CHANBENCH_STALL_AFTER_S`` (2.0) seconds after the first
  connection: a stalled server that open-loop latency must show.
- ``slow``: waits ``CHANBENCH_SLOW_MS`` (5) before each broadcast: a regression that a
  comparison must flag.

Leaks, planted for churn's verdicts (docs/leaks.md) and for profilers to find (each keeps
its allocation on one line, so a memray or tracemalloc report names it):

- ``leak``: keeps ``CHANBENCH_LEAK_BYTES`` (65536) bytes per connection, forever, in the
  module-level list ``KEPT``: memory that grows by that much per connection-cycle.
- ``task_leak``: starts a task per connection that never ends: asyncio tasks that grow
  by one per connection.
- ``fd_leak``: opens a file descriptor per connection and never closes it (``os.open``
  of /dev/null, kept in ``KEPT_FDS``): open files that grow by one per connection.
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
LEAK_BYTES = int(os.environ.get("CHANBENCH_LEAK_BYTES", "65536"))

# What the leaks keep: never emptied while the server runs.
KEPT: list[bytearray] = []
KEPT_TASKS: list[asyncio.Task] = []
KEPT_FDS: list[int] = []

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


class LeakConsumer(ChatConsumer):
    async def connect(self):
        KEPT.append(bytearray(LEAK_BYTES))  # the planted leak: LEAK_BYTES per connection
        await super().connect()


class TaskLeakConsumer(ChatConsumer):
    async def connect(self):
        KEPT_TASKS.append(asyncio.ensure_future(asyncio.Event().wait()))  # never ends
        await super().connect()


class FdLeakConsumer(ChatConsumer):
    async def connect(self):
        KEPT_FDS.append(os.open(os.devnull, os.O_RDONLY))  # never closed
        await super().connect()


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
    re_path(r"ws/leak/chat/(?P<room_name>\w+)/$", LeakConsumer.as_asgi()),
    re_path(r"ws/task_leak/chat/(?P<room_name>\w+)/$", TaskLeakConsumer.as_asgi()),
    re_path(r"ws/fd_leak/chat/(?P<room_name>\w+)/$", FdLeakConsumer.as_asgi()),
    re_path(r"ws/probe/chat/(?P<room_name>\w+)/$", ProbeConsumer.as_asgi()),
]
