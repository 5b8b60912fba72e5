"""A fixed amount of chat through a real Daphne: what pytest-benchmark's timings can gate.

``test_scenario.py`` runs fixed-length load tests, whose wall time says nothing; here each
round is a fixed piece of work, so its time is the measurement: ``CLIENTS`` websocket
clients in one room each send ``MESSAGES`` messages in closed loop (the next when their
own comes back), and the round ends when all ``CLIENTS**2 * MESSAGES`` deliveries have
arrived. ``--benchmark-compare-fail=mean:10%`` then flags a slower consumer or server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from bench.deploy.processes import free_port
from bench.deploy.servers import DaphneServer
from bench.deploy.site import ServerSettings, origin, ws_url
from bench.scenario import Point

CLIENTS = 10
MESSAGES = 20
# A round is ~0.1-1 s on 2 cores; a round that takes this long is a hang, not a result.
ROUND_TIMEOUT_S = 60.0
HOST = "127.0.0.1"


@pytest.fixture(scope="module", params=["sync", "async"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, DaphneServer]]:
    port = free_port(HOST)
    log = tmp_path_factory.mktemp("exchange") / "daphne.log"
    with DaphneServer(ServerSettings(Point()), HOST, port, log) as server:
        server.wait_ready(request.param)
        yield request.param, server


async def exchange(url: str, origin_header: str) -> int:
    """One round: connect, chat, count the deliveries; return how many arrived."""
    clients = [
        await connect(url, origin=origin_header, compression=None)  # type: ignore[arg-type]
        for _ in range(CLIENTS)
    ]
    delivered = 0

    async def chat(index: int) -> None:
        """Send in closed loop; stop once every member's messages have arrived here."""
        nonlocal delivered
        ws = clients[index]
        mine = received = 0
        await ws.send(json.dumps({"message": f"{index}:0"}))
        while received < CLIENTS * MESSAGES:
            message = json.loads(await ws.recv())["message"]
            received += 1
            sender, seq = map(int, message.split(":"))
            if sender == index:
                mine += 1
                if mine < MESSAGES:
                    await ws.send(json.dumps({"message": f"{index}:{seq + 1}"}))
        delivered += received

    try:
        await asyncio.wait_for(asyncio.gather(*(chat(i) for i in range(CLIENTS))), ROUND_TIMEOUT_S)
    finally:
        await asyncio.gather(*(ws.close() for ws in clients))
    return delivered


def test_exchange(benchmark: Any, served: tuple[str, DaphneServer]) -> None:
    consumer, server = served
    benchmark.group = f"exchange: {CLIENTS} clients x {MESSAGES} messages, one room"
    benchmark.extra_info.update(consumer=consumer, clients=CLIENTS, messages=MESSAGES)
    url = ws_url(HOST, server.port, consumer, "exchange")
    delivered = benchmark.pedantic(
        lambda: asyncio.run(exchange(url, origin(HOST, server.port))), rounds=5, warmup_rounds=1
    )
    assert delivered == CLIENTS * CLIENTS * MESSAGES
    assert server.alive(), Path(server.log_path).read_text()[-2000:]
