"""The tutorial's chat consumers, in-process, against every channel layer.

Each test drives the site's full ASGI application (origin validation, auth middleware,
URL routing, consumer) with ``WebsocketCommunicator``, and switches the channel layer with
``override_settings``: Channels rebuilds its layers when ``CHANNEL_LAYERS`` changes.
The Redis layers use a real redis-server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import redis.asyncio
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.test import override_settings
from mysite.asgi import application

from bench.deploy.site import CONSUMERS, LAYERS

# Bounded waits: generous for a loaded 2-core machine, never a measure of speed.
TIMEOUT_S = 5.0
# A consumer ends within milliseconds of its client's disconnect; allow a loaded machine.
STOP_TIMEOUT_S = 3.0
# How long "nothing arrives" is watched for, after a later message proved delivery.
QUIET_S = 0.3
ORIGIN = b"http://127.0.0.1"

every_consumer_and_layer = pytest.mark.parametrize(
    ("consumer", "layer"), [(c, la) for c in CONSUMERS for la in LAYERS]
)


class ConsumerDidNotStop(AssertionError):
    """A consumer did not end cleanly and promptly after its client disconnected."""


def new_room() -> str:
    return f"room_{uuid.uuid4().hex[:12]}"


def run_with_layer(
    layer_entry: dict[str, Any], scenario: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    """Run ``scenario`` in a fresh event loop with ``layer_entry`` as the default layer."""

    async def main() -> None:
        layer = get_channel_layer()
        try:
            await scenario()
        finally:
            # Close the layer's connections inside the loop that opened them.
            await layer.flush()

    with override_settings(CHANNEL_LAYERS={"default": layer_entry}):
        asyncio.run(main())


async def join(consumer: str, room: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application, f"/ws/{consumer}/chat/{room}/", headers=[(b"origin", ORIGIN)]
    )
    connected, _ = await communicator.connect(timeout=TIMEOUT_S)
    assert connected, f"{consumer} consumer refused a connection to {room}"
    return communicator


async def leave(communicator: WebsocketCommunicator) -> None:
    """Disconnect the client; the consumer must end, without an error, promptly.

    (``WebsocketCommunicator.disconnect`` silently cancels a consumer that overruns its
    timeout, so the end is checked here.)
    """
    await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
    done, _ = await asyncio.wait([communicator.future], timeout=STOP_TIMEOUT_S)
    if not done:
        communicator.future.cancel()
        await asyncio.wait([communicator.future])
        raise ConsumerDidNotStop(
            f"consumer still running {STOP_TIMEOUT_S:g} s after its client disconnected"
        )
    error = communicator.future.exception()
    if error is not None:
        raise ConsumerDidNotStop(f"consumer failed on disconnect: {error!r}") from error


async def leave_all(communicators: list[WebsocketCommunicator]) -> None:
    """Clean-up: disconnect everyone, most recent first.

    Most recent first, so that a test is not held up by the Redis layer's disconnect bug
    that ``test_every_consumer_stops_after_disconnect`` exposes (disconnecting the
    receive-lock holder, usually the first to join, first).
    """
    for communicator in reversed(communicators):
        await communicator.disconnect(timeout=TIMEOUT_S)


async def group_size(room: str) -> int:
    """How many channels the layer holds in the room's group."""
    layer = get_channel_layer()
    group = f"chat_{room}"
    if isinstance(layer, RedisChannelLayer):
        # A sorted set in Redis, under channels_redis's default "asgi" prefix: ask Redis.
        address = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"]
        client = redis.asyncio.Redis.from_url(address)
        try:
            return int(await client.zcard(f"asgi:group:{group}"))
        finally:
            await client.aclose()
    if isinstance(layer, RedisPubSubChannelLayer):
        # The pub/sub layer keeps its groups in its per-event-loop layer, by channel name.
        return len(layer.groups.get(layer._get_group_channel_name(group), ()))
    assert isinstance(layer, InMemoryChannelLayer)
    return len(layer.groups.get(group, ()))


async def all_quiet(communicators: list[WebsocketCommunicator]) -> bool:
    results = await asyncio.gather(*(c.receive_nothing(timeout=QUIET_S) for c in communicators))
    return all(results)


@every_consumer_and_layer
def test_message_reaches_every_member_including_sender(consumer, layer, layer_config):
    room = new_room()

    async def scenario() -> None:
        members = [await join(consumer, room) for _ in range(3)]
        try:
            for sender_index, sender in enumerate(members):
                text = f"hello from member {sender_index}"
                await sender.send_json_to({"message": text})
                for member in members:
                    received = await member.receive_json_from(timeout=TIMEOUT_S)
                    assert received == {"message": text}
            assert await all_quiet(members), "a message arrived more than once"
        finally:
            await leave_all(members)

    run_with_layer(layer_config(layer), scenario)


@every_consumer_and_layer
def test_message_reaches_no_member_of_another_room(consumer, layer, layer_config):
    room, other_room = new_room(), new_room()

    async def scenario() -> None:
        members = [await join(consumer, room) for _ in range(2)]
        others = [await join(consumer, other_room) for _ in range(2)]
        try:
            await members[0].send_json_to({"message": "for room one only"})
            for member in members:
                assert await member.receive_json_from(timeout=TIMEOUT_S) == {
                    "message": "for room one only"
                }
            # The other room's first message must be its own, and nothing may follow it.
            await others[0].send_json_to({"message": "for room two only"})
            for other in others:
                assert await other.receive_json_from(timeout=TIMEOUT_S) == {
                    "message": "for room two only"
                }
            assert await all_quiet(members + others)
        finally:
            await leave_all(members + others)

    run_with_layer(layer_config(layer), scenario)


@every_consumer_and_layer
def test_member_that_left_stops_receiving(consumer, layer, layer_config):
    room = new_room()

    async def scenario() -> None:
        stayers = [await join(consumer, room) for _ in range(2)]
        leaver = await join(consumer, room)
        try:
            assert await group_size(room) == 3
            await leaver.send_json_to({"message": "before leaving"})
            for member in [*stayers, leaver]:
                assert await member.receive_json_from(timeout=TIMEOUT_S) == {
                    "message": "before leaving"
                }

            await leave(leaver)
            assert await group_size(room) == 2, "the leaver is still in the room's group"

            await stayers[1].send_json_to({"message": "after leaving"})
            for stayer in stayers:
                assert await stayer.receive_json_from(timeout=TIMEOUT_S) == {
                    "message": "after leaving"
                }
            assert await all_quiet([*stayers, leaver])
        finally:
            await leave_all(stayers)
        assert await group_size(room) == 0

    run_with_layer(layer_config(layer), scenario)


@pytest.mark.parametrize(("consumer", "layer"), [(c, la) for c in CONSUMERS for la in LAYERS])
def test_every_consumer_stops_after_disconnect(consumer, layer, layer_config):
    """Clients leaving in the order they joined each end their consumer, cleanly."""
    room = new_room()

    async def scenario() -> None:
        members = [await join(consumer, room) for _ in range(3)]
        try:
            await members[0].send_json_to({"message": "hello"})
            for member in members:
                assert await member.receive_json_from(timeout=TIMEOUT_S) == {"message": "hello"}
            for member in members:
                await leave(member)
        finally:
            for member in members:
                member.stop(exceptions=False)
        assert await group_size(room) == 0

    run_with_layer(layer_config(layer), scenario)


@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize(
    "headers",
    [[], [(b"origin", b"http://evil.example")]],
    ids=["no-origin", "foreign-origin"],
)
def test_connection_without_an_allowed_origin_is_refused(consumer, headers, layer_config):
    async def scenario() -> None:
        communicator = WebsocketCommunicator(
            application, f"/ws/{consumer}/chat/{new_room()}/", headers=headers
        )
        connected, _ = await communicator.connect(timeout=TIMEOUT_S)
        assert not connected, "the origin validator let the connection through"
        await communicator.disconnect(timeout=TIMEOUT_S)

        # The same request with the site's own origin is accepted: the origin decided.
        allowed = await join(consumer, new_room())
        await leave(allowed)

    run_with_layer(layer_config("memory"), scenario)
