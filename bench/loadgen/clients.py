"""The transports: websocket chat clients, and opening them by the thousand.

A client carries frames and tells its listener what arrived; the books and the schedule
live elsewhere, so a second transport (permessage-deflate through ``websockets``) is only
the code that differs from the default (picows, the fastest client measured here).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.protocols import DEFAULT_PROTOCOL, Frame, Loaded, load, make_token

# A handshake not done in this long is a failure, named as such.
CONNECT_TIMEOUT_S = 10.0
# Handshakes in flight at once, shared by a pool's workers: enough to connect thousands
# of clients in seconds, and fewer than Daphne's accept backlog (Twisted's default, 50,
# the smallest of the server kinds'), so that a busy server's queue does not overflow
# into SYN retries (docs/cluster.md: 64 per worker, on two workers, overflowed it).
CONNECT_CONCURRENCY = 48


class Listener(Protocol):
    """What a client reports to: the worker that owns it."""

    def on_message(self, client: ChatClient, frame: Frame) -> None: ...

    def on_malformed(self, client: ChatClient) -> None: ...

    def on_disconnected(self, client: ChatClient) -> None: ...


class ChatClient:
    """One client: what it sends and whether it is up; subclasses carry the frames, in
    the protocol's words (``bench.protocols``; the tutorial's chat by default)."""

    def __init__(
        self,
        listener: Listener,
        index: int,
        room: int,
        padding: str,
        protocol: Loaded | None = None,
    ) -> None:
        self.listener = listener
        self.index = index
        self.room = room
        self.book = room  # its room in the delivery books (the worker may say otherwise)
        self.padding = padding
        self.protocol = protocol = protocol or load(DEFAULT_PROTOCOL)
        self.message = protocol.message  # bound once: it is called per send
        self.binary = protocol.binary
        self.seq = 0
        self.waiting_since_ns = 0  # closed loop: when the unanswered message was sent
        self.alive = False
        # Churn under load: left to come back (bench.loadgen.reconnect): sends nothing,
        # and keeps its place in the open loop's schedule meanwhile.
        self.away = False
        self.compressed = False  # the server accepted permessage-deflate

    async def open(self, url: str, headers: dict[str, str]) -> None:
        raise NotImplementedError

    def write(self, data: Frame) -> None:
        raise NotImplementedError

    def hang_up(self) -> None:
        """Close the connection now; what is in flight is lost."""
        raise NotImplementedError

    def send(self, intended_ns: int, phase: str) -> None:
        self.write(self.message(make_token(self.index, self.seq, intended_ns, phase, self.padding)))
        self.seq += 1
        self.waiting_since_ns = intended_ns

    def closed(self) -> None:
        if self.alive:
            self.alive = False
            self.listener.on_disconnected(self)


class PicowsClient(ChatClient, WSListener):
    """The default: picows on uvloop, the fastest Python client measured, no compression."""

    transport: WSTransport | None = None
    kind = WSMsgType.TEXT  # the frames the protocol speaks, set once connected

    async def open(self, url: str, headers: dict[str, str]) -> None:
        await ws_connect(
            lambda: self,
            url,
            extra_headers=headers,
            websocket_handshake_timeout=CONNECT_TIMEOUT_S,
        )

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.alive = True
        self.kind = WSMsgType.BINARY if self.binary else WSMsgType.TEXT

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        # Frames of the protocol's kind go to its token(), text as str, binary as bytes;
        # the other kind is malformed, as is text that is not UTF-8.
        if frame.msg_type == self.kind and frame.fin:
            try:
                payload: Frame = (
                    frame.get_payload_as_bytes()
                    if self.binary
                    else frame.get_payload_as_utf8_text()
                )
            except UnicodeDecodeError:
                self.listener.on_malformed(self)
                return
            self.listener.on_message(self, payload)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()
        elif frame.msg_type != WSMsgType.PONG:
            self.listener.on_malformed(self)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed()

    def write(self, data: Frame) -> None:
        assert self.transport is not None
        self.transport.send(self.kind, data)

    def hang_up(self) -> None:
        if self.transport is not None:
            self.transport.send_close()
            self.transport.disconnect()


class DeflateClient(ChatClient):
    """For scenarios with ``compression = true``: the websockets library, which negotiates
    permessage-deflate (picows does not); slower, so calibrate with it too."""

    ws: Any = None

    async def open(self, url: str, headers: dict[str, str]) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(
            url,
            additional_headers=headers,
            compression="deflate",
            open_timeout=CONNECT_TIMEOUT_S,
            max_size=None,
        )
        self.alive = True
        self.compressed = bool(self.ws.protocol.extensions)  # Daphne declines it
        self._outbox: asyncio.Queue[Frame] = asyncio.Queue()
        # One reader and one writer task: frames go out in order, without awaiting a send.
        self._tasks = [asyncio.ensure_future(self._read()), asyncio.ensure_future(self._write())]

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, bytes) == self.binary:
                    self.listener.on_message(self, message)
                else:
                    self.listener.on_malformed(self)
        except Exception:  # a dropped connection ends this client only
            pass
        self.closed()

    async def _write(self) -> None:
        with contextlib.suppress(Exception):  # closed: the reader reports it
            while True:
                await self.ws.send(await self._outbox.get())

    def write(self, data: Frame) -> None:
        self._outbox.put_nowait(data)

    def hang_up(self) -> None:
        if self.ws is not None:
            self._tasks[1].cancel()
            self._tasks.append(asyncio.ensure_future(self.ws.close()))


async def connect_all(
    new_client: Callable[[int, int], ChatClient],
    members: Sequence[tuple[int, int]],
    url_template: str,
    origin: str,
    connect_rate: float,
    connect_ms: list[float],
    errors: dict[str, int],
    concurrency: int = CONNECT_CONCURRENCY,
) -> list[ChatClient]:
    """Open ``new_client(index, room)`` for each (index, room) of ``members`` at
    ``url_template`` (its ``{room}`` and ``{client}`` filled in), with the Origin header
    and the client's protocol's ``headers``, at most
    ``concurrency`` handshakes at once, started ``connect_rate`` a second (0: no
    limit). Each success's time goes into ``connect_ms``, each failure by name into
    ``errors``; returns the clients that connected, in the order they did.

    When the first ``concurrency`` handshakes all failed, the rest are not tried
    (counted as such): a server that cannot take one client fails the repeat in one
    handshake timeout, not one per batch of clients."""
    gate = asyncio.Semaphore(concurrency)
    interval_s = 1.0 / connect_rate if connect_rate else 0.0
    connected: list[ChatClient] = []
    hopeless = min(concurrency, len(members))
    failed = 0

    async def connect_one(index: int, room: int) -> None:
        nonlocal failed
        client = new_client(index, room)
        # Before the clock starts: a protocol's headers() may make a session first.
        headers = {"Origin": origin, **client.protocol.headers(index)}
        started = time.perf_counter()
        async with gate:
            if failed >= hopeless and not connected:
                name = f"not tried: the first {hopeless} handshakes failed"
                errors[name] = errors.get(name, 0) + 1
                return
            try:
                url = url_template.format(room=room, client=index)
                await asyncio.wait_for(client.open(url, headers), CONNECT_TIMEOUT_S + 1)
            except Exception as exc:  # any failure to connect is counted, not raised
                name = connect_error(exc, url_template)
                errors[name] = errors.get(name, 0) + 1
                failed += 1
                return
        connect_ms.append((time.perf_counter() - started) * 1000)
        connected.append(client)

    tasks = []
    for index, room in members:
        tasks.append(asyncio.ensure_future(connect_one(index, room)))
        if interval_s:
            await asyncio.sleep(interval_s)
    await asyncio.gather(*tasks)
    return connected


def connect_error(exc: BaseException, url_template: str) -> str:
    """A failed connection in a few words, the same for every client it happened to: a
    refused handshake names the status code and the URL."""
    if isinstance(exc, TimeoutError):
        return f"no handshake within {CONNECT_TIMEOUT_S:g} s"
    response = getattr(exc, "response", None)
    # picows' WSUpgradeResponse has .status; websockets' Response has .status_code.
    status = getattr(response, "status", None) or getattr(response, "status_code", None)
    if status is not None:
        return f"{type(exc).__name__}: HTTP {int(status)} from {url_template}"
    return type(exc).__name__
