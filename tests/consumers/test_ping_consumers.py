"""The JSON request/reply pair (``ws/ping/<flavour>/``), in-process through the site's
whole ASGI application: a greeting on connect, each ping answered to its sender alone
(another client in the same room hears nothing), and the shipped protocol reads the
reply's token."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from mysite.asgi import application

from bench.deploy.site import CONSUMERS
from bench.protocols import MEASURED, load, make_token, read_token

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
TIMEOUT_S = 5.0
ORIGIN = b"http://127.0.0.1"


@pytest.mark.parametrize("flavour", CONSUMERS)
def test_a_ping_is_answered_to_its_sender_alone(flavour):
    protocol = load("pingpong:PingPong", [str(SCENARIOS)])
    sent = make_token(4, 0, 123, MEASURED, "xx")

    async def main() -> None:
        path = f"/ws/ping/{flavour}/r1/"
        asker = WebsocketCommunicator(application, path, headers=[(b"origin", ORIGIN)])
        other = WebsocketCommunicator(application, path, headers=[(b"origin", ORIGIN)])
        for client in (asker, other):
            connected, _ = await client.connect(timeout=TIMEOUT_S)
            assert connected
            greeting = await client.receive_from(timeout=TIMEOUT_S)
            assert protocol.token(greeting) is None  # answers nothing
        await asker.send_to(text_data=protocol.message(sent))
        reply = await asker.receive_from(timeout=TIMEOUT_S)
        assert read_token(protocol.token(reply) or "") == (4, 0, 123, MEASURED)
        assert json.loads(reply) == {"type": "pong", "id": sent}
        assert await other.receive_nothing(timeout=0.3)
        for client in (asker, other):
            await client.disconnect()

    asyncio.run(main())
