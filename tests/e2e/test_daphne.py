"""The chat site served by a real Daphne process, driven by real websocket clients.

One Daphne per channel layer (it serves both consumers), started on a free loopback
port; the Redis layers use the real redis-server of the ``redis_url`` fixture.
Every wait is bounded. Bad input (a malformed frame, a message over the size limit)
is tested in tests/reliability/test_bad_clients.py.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.deploy.processes import free_port
from bench.deploy.redis_server import flush
from bench.deploy.servers import DaphneServer
from bench.deploy.site import CONSUMERS, LAYERS, ServerSettings, origin, ws_url
from bench.scenario import Point

HOST = "127.0.0.1"
# Bounded waits: generous for a loaded 2-core machine, never a measure of speed.
TIMEOUT_S = 5.0
# How long "nothing arrives" is watched for, after a later message proved delivery.
QUIET_S = 0.3


class ConnectionDropped(AssertionError):
    """The server closed a connection that it should have kept open."""


@pytest.fixture(scope="module", params=LAYERS)
def server(request, tmp_path_factory) -> Iterator[DaphneServer]:
    """One Daphne per layer, shared by the module's tests for that layer."""
    layer = request.param
    redis_url = None if layer == "memory" else request.getfixturevalue("redis_url")
    if redis_url:
        flush(redis_url)
    log_path = tmp_path_factory.mktemp(f"daphne-{layer}") / "daphne.log"
    daphne = DaphneServer(
        ServerSettings(Point(layer=layer), redis_url=redis_url), HOST, free_port(HOST), log_path
    )
    with daphne:
        daphne.wait_ready()
        yield daphne
    assert not daphne.alive()


def new_room() -> str:
    return f"room_{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def client(server: DaphneServer, consumer: str, room: str) -> AsyncIterator[ClientConnection]:
    """A client of ``consumer`` (``tutorial``: the tutorial's own /ws/chat/ route)."""
    if consumer == "tutorial":
        url = f"ws://{server.host}:{server.port}/ws/chat/{room}/"
    else:
        url = ws_url(server.host, server.port, consumer, room)
    async with connect(
        url,
        origin=origin(server.host, server.port),  # type: ignore[arg-type]
        compression=None,
        open_timeout=TIMEOUT_S,
        close_timeout=2,
    ) as ws:
        yield ws


async def clients(
    stack: AsyncExitStack, server: DaphneServer, consumer: str, room: str, count: int
) -> list[ClientConnection]:
    return [await stack.enter_async_context(client(server, consumer, room)) for _ in range(count)]


async def send(ws: ClientConnection, message: str) -> None:
    await ws.send(json.dumps({"message": message}))


async def receive(ws: ClientConnection) -> str:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))["message"]


async def all_receive(wss: list[ClientConnection], message: str) -> None:
    received = await asyncio.gather(*(receive(ws) for ws in wss))
    assert received == [message] * len(wss)


async def receives_nothing(ws: ClientConnection) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), QUIET_S)
    except TimeoutError:
        return True
    return False


async def all_quiet(wss: list[ClientConnection]) -> bool:
    return all(await asyncio.gather(*(receives_nothing(ws) for ws in wss)))


# First in the module, so that it runs first on each layer's fresh server.
def test_idle_connections_stay_open(server):
    """Clients that say nothing for longer than Redis's client timeouts keep chatting
    (redis-py 8's default 5 s socket timeout once dropped them on the redis layer)."""
    idle_s = 6.5
    room = new_room()

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            members = [
                (consumer, ws)
                for consumer in CONSUMERS
                for ws in await clients(stack, server, consumer, room, 2)
            ]
            await asyncio.sleep(idle_s)
            wss = [ws for _, ws in members]

            def check_none_dropped(cause: BaseException | None = None) -> None:
                dropped = [
                    f"a {consumer} client, closed with {ws.close_code}"
                    for consumer, ws in members
                    if ws.close_code is not None
                ]
                if dropped:
                    raise ConnectionDropped(
                        f"after {idle_s:g} s idle, the server closed {'; '.join(dropped)}"
                    ) from cause

            check_none_dropped()
            try:
                for index, ws in enumerate(wss):
                    await send(ws, f"awake {index}")
                    await all_receive(wss, f"awake {index}")
            except (ConnectionClosed, TimeoutError) as exc:
                # A close that was still on its way when the idle time ended.
                check_none_dropped(exc)
                raise

    asyncio.run(scenario())


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_message_reaches_every_member_including_sender(server, consumer):
    room = new_room()

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            members = await clients(stack, server, consumer, room, 3)
            for index, sender in enumerate(members):
                await send(sender, f"hello from member {index}")
                await all_receive(members, f"hello from member {index}")
            assert await all_quiet(members), "a message arrived more than once"

    asyncio.run(scenario())


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_message_reaches_no_member_of_another_room(server, consumer):
    room, other_room = new_room(), new_room()

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            members = await clients(stack, server, consumer, room, 2)
            others = await clients(stack, server, consumer, other_room, 2)
            await send(members[0], "for room one only")
            await all_receive(members, "for room one only")
            # The other room's first message must be its own, and nothing may follow it.
            await send(others[1], "for room two only")
            await all_receive(others, "for room two only")
            assert await all_quiet(members + others)

    asyncio.run(scenario())


def test_rooms_are_shared_by_both_consumers(server):
    """Both consumers put a room in the same group: sync and async clients chat together."""
    room = new_room()

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            sync_client = await stack.enter_async_context(client(server, "sync", room))
            async_client = await stack.enter_async_context(client(server, "async", room))
            tutorial_client = await stack.enter_async_context(client(server, "tutorial", room))
            members = [sync_client, async_client, tutorial_client]
            await send(sync_client, "from sync")
            await all_receive(members, "from sync")
            await send(async_client, "from async")
            await all_receive(members, "from async")

    asyncio.run(scenario())


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_member_that_left_stops_receiving(server, consumer, redis_group_size):
    room = new_room()

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            stayers = await clients(stack, server, consumer, room, 2)
            async with client(server, consumer, room) as leaver:
                await send(leaver, "before leaving")
                await all_receive([*stayers, leaver], "before leaving")
                await redis_group_size(room, 3)
            assert leaver.close_code == 1000, "the server did not complete the close handshake"
            # The consumer left the group: the Redis layer keeps groups in Redis.
            await redis_group_size(room, 2)

            await send(stayers[1], "after leaving")
            await all_receive(stayers, "after leaving")
            assert await all_quiet(stayers)

    asyncio.run(scenario())


@pytest.fixture
def redis_group_size(server, request):
    """``await redis_group_size(room, n)``: wait until Redis holds ``n`` in the room's group.

    Only the ``redis`` layer keeps groups where a test can see them (in Redis); for the
    other layers this checks nothing.
    """

    async def wait_for_size(room: str, expected: int) -> None:
        if server.settings.point.layer != "redis":
            return
        import redis.asyncio

        key = f"asgi:group:chat_{room}"
        redis_client = redis.asyncio.Redis.from_url(server.settings.redis_url)
        try:
            async with asyncio.timeout(TIMEOUT_S):
                while (size := await redis_client.zcard(key)) != expected:
                    await asyncio.sleep(0.02)
        except TimeoutError:
            pytest.fail(f"Redis group {key} has {size} members, not {expected}")
        finally:
            await redis_client.aclose()

    return wait_for_size


@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize(
    "client_origin",
    [None, "http://evil.example", "http://127.0.0.1.evil.example"],
    ids=["no-origin", "foreign-origin", "lookalike-origin"],
)
def test_connection_without_an_allowed_origin_is_refused(server, consumer, client_origin):
    async def scenario() -> None:
        url = ws_url(server.host, server.port, consumer, new_room())
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, origin=client_origin, compression=None, open_timeout=TIMEOUT_S):
                pass
        assert refused.value.response.status_code == 403

    asyncio.run(scenario())
