"""Websocket routes: ``ws/<flavour>/<workload>/<room>/``, and the tutorial's own path on
the async chat consumer.

``chat`` is the tutorial's consumers as written. The other workloads do real work before
each broadcast (``chat/sync_work_consumers.py`` and its async twin): ``orm`` saves the
message through the ORM, ``blocking`` makes a blocking call, ``cpu`` burns CPU. Their
``-native`` twins (``orm-native``, ``blocking-native``) and ``orm-acreate`` change only the
async consumer; the sync flavour of those routes is the plain sync one, since a sync
consumer has no async library to use.

``ws/ping/<flavour>/<room>/`` is a JSON request/reply pair (``sync_ping_consumer.py`` and
its async twin): each ping answered to its sender alone, no group; chanbench drives it
with ``scenarios/pingpong.py``'s protocol (``scenarios/own-consumer.toml``).

The fault-injecting consumers in ``chat.faults`` exist to test the harness; they are
routed only when ``CHANBENCH_FAULT_CONSUMERS=1``, never in a plain ``serve``.
"""

import os

from django.urls import re_path

from . import (
    async_consumer,
    async_ping_consumer,
    async_work_consumers,
    sync_consumer,
    sync_ping_consumer,
    sync_work_consumers,
)

# workload: (sync consumer, async consumer)
WORKLOADS = {
    "chat": (sync_consumer.ChatConsumer, async_consumer.ChatConsumer),
    "orm": (sync_work_consumers.OrmConsumer, async_work_consumers.OrmConsumer),
    "orm-native": (sync_work_consumers.OrmConsumer, async_work_consumers.OrmNativeConsumer),
    "orm-acreate": (sync_work_consumers.OrmConsumer, async_work_consumers.OrmAcreateConsumer),
    "blocking": (sync_work_consumers.BlockingConsumer, async_work_consumers.BlockingConsumer),
    "blocking-native": (
        sync_work_consumers.BlockingConsumer,
        async_work_consumers.BlockingNativeConsumer,
    ),
    "cpu": (sync_work_consumers.CpuConsumer, async_work_consumers.CpuConsumer),
}

websocket_urlpatterns = [
    re_path(rf"ws/{flavour}/{workload}/(?P<room_name>\w+)/$", consumer.as_asgi())
    for workload, pair in WORKLOADS.items()
    for flavour, consumer in zip(("sync", "async"), pair, strict=True)
]
websocket_urlpatterns.append(
    re_path(r"ws/chat/(?P<room_name>\w+)/$", async_consumer.ChatConsumer.as_asgi())
)
websocket_urlpatterns += [
    re_path(rf"ws/ping/{flavour}/(?P<room_name>\w+)/$", module.PingConsumer.as_asgi())
    for flavour, module in (("sync", sync_ping_consumer), ("async", async_ping_consumer))
]

if os.environ.get("CHANBENCH_FAULT_CONSUMERS") == "1":
    from . import faults

    websocket_urlpatterns += faults.websocket_urlpatterns
