"""Issue 17, section 4: clients that cannot connect fail the repeat fast. Against a
server that accepts TCP and never answers a handshake, a worker with many clients stops
after its first batch of handshakes has failed, rather than timing out batch after batch
until the runner's connect budget is spent ("sent no 'connected'")."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from bench.loadgen import clients
from bench.loadgen.clients import CONNECT_CONCURRENCY, PicowsClient, connect_all

# Enough clients for several batches of handshakes.
CLIENTS = CONNECT_CONCURRENCY * 5
TIMEOUT_S = 1.0


@pytest.mark.timeout(60)
def test_a_silent_server_fails_the_clients_in_one_timeout(monkeypatch, silent_server):
    monkeypatch.setattr(clients, "CONNECT_TIMEOUT_S", TIMEOUT_S)  # the test's patience
    listener = SimpleNamespace()  # never called: no handshake completes
    errors: dict[str, int] = {}
    connect_ms: list[float] = []
    members = [(i, i % 10) for i in range(CLIENTS)]

    async def connect() -> list:
        return await connect_all(
            lambda index, room: PicowsClient(listener, index, room, ""),
            members,
            f"ws://127.0.0.1:{silent_server}/ws/async/chat/{{room}}/",
            f"http://127.0.0.1:{silent_server}",
            0.0,
            connect_ms,
            errors,
        )

    started = time.monotonic()
    connected = asyncio.run(connect())
    elapsed_s = time.monotonic() - started
    assert connected == [] and connect_ms == []
    assert sum(errors.values()) == CLIENTS  # every client is accounted for
    assert len(errors) == 2, errors  # the handshakes' failure, and those not tried
    # Batch after batch would take 5 timeouts; the first batch alone takes one.
    assert elapsed_s < 3 * TIMEOUT_S, elapsed_s
