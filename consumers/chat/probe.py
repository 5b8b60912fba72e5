"""What a churn run reads from inside the server between cycles (a soak: during its
load, once a sample, and it reports how long it held the event loop: ``probe_pause_ms``).

Routed at ``/_chanbench/probe/`` only when ``CHANBENCH_PROBE=1`` (chanbench sets it for
churn points; never in a plain ``serve``, never in a user's production). An async view,
so that it runs on the server's event loop and sees its tasks. It collects the garbage
first: what it counts is what is kept alive, not what a collection would free.
"""

import asyncio
import gc
import sys
import time

from channels.layers import get_channel_layer
from django.http import JsonResponse


def _layer_state():
    """The channel layer's own bookkeeping: channels and groups it holds (in-memory and
    pub/sub layers), receive-buffer entries (channels_redis' core layer)."""
    layer = get_channel_layer()
    state = {}
    channels = getattr(layer, "channels", None)
    if isinstance(channels, dict):
        state["layer_channels"] = len(channels)
    groups = getattr(layer, "groups", None)
    if isinstance(groups, dict):
        state["layer_groups"] = len(groups)
    buffer = getattr(layer, "receive_buffer", None)
    if isinstance(buffer, dict):
        state["layer_receive_buffer"] = len(buffer)
    return state


async def counters(request):
    started = time.perf_counter()
    gc.collect()
    found = {
        "allocated_blocks": sys.getallocatedblocks(),
        "gc_objects": len(gc.get_objects()),
        "asyncio_tasks": len(asyncio.all_tasks()),
        **_layer_state(),
    }
    found["probe_pause_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return JsonResponse(found)
