"""Websocket routes: one per consumer, and the tutorial's own path on the async one.

The fault-injecting consumers in ``chat.faults`` exist to test the harness; they are
routed only when ``CHANBENCH_FAULT_CONSUMERS=1``, never in a plain ``serve``.
"""

import os

from django.urls import re_path

from . import async_consumer, sync_consumer

websocket_urlpatterns = [
    re_path(r"ws/sync/chat/(?P<room_name>\w+)/$", sync_consumer.ChatConsumer.as_asgi()),
    re_path(r"ws/async/chat/(?P<room_name>\w+)/$", async_consumer.ChatConsumer.as_asgi()),
    re_path(r"ws/chat/(?P<room_name>\w+)/$", async_consumer.ChatConsumer.as_asgi()),
]

if os.environ.get("CHANBENCH_FAULT_CONSUMERS") == "1":
    from . import faults

    websocket_urlpatterns += faults.websocket_urlpatterns
