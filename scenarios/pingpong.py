"""The protocol of consumers/chat's JSON request/reply pair (``ws/ping/<flavour>/``),
written as docs/own-consumer.md tells a user to write one: nothing of chanbench imported."""

import json


class PingPong:
    recipients = "sender"  # each ping is answered to its sender alone

    def message(self, token: str) -> str:
        return json.dumps({"type": "ping", "id": token})

    def token(self, frame: str | bytes) -> str | None:
        data = json.loads(frame)
        return data.get("id") if data.get("type") == "pong" else None
