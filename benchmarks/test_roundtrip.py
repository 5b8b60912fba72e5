"""One chat message's round trip through each consumer, in-process: the consumer's own
cost, without a network, a server or a load generator.

The client sends a message to a room it is alone in; the consumer broadcasts it through
the in-memory channel layer, and it comes back. The sync consumer pays for its trips
between the event loop and its worker thread (``async_to_sync``/``sync_to_async``).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from mysite.asgi import application

TIMEOUT_S = 5.0
ORIGIN = b"http://127.0.0.1"


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.run_until_complete(get_channel_layer().flush())
        loop.close()


@pytest.mark.parametrize("consumer", ["sync", "async"])
def test_roundtrip(benchmark: Any, loop: asyncio.AbstractEventLoop, consumer: str) -> None:
    benchmark.group = "round trip, in-process"
    benchmark.extra_info["consumer"] = consumer
    room = f"bench_{uuid.uuid4().hex[:12]}"
    communicator = WebsocketCommunicator(
        application, f"/ws/{consumer}/chat/{room}/", headers=[(b"origin", ORIGIN)]
    )
    connected, _ = loop.run_until_complete(communicator.connect(timeout=TIMEOUT_S))
    assert connected
    payload = json.dumps({"message": "ping"})

    async def roundtrip() -> str:
        await communicator.send_to(text_data=payload)
        return await communicator.receive_from(timeout=TIMEOUT_S)

    try:
        reply = benchmark(lambda: loop.run_until_complete(roundtrip()))
        assert json.loads(reply) == {"message": "ping"}
    finally:
        loop.run_until_complete(communicator.disconnect(timeout=TIMEOUT_S))
