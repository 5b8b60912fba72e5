"""The tutorial's chat as a protocol: the default, written with the interface any user's
protocol has (``bench.protocols``).

The tutorial's page sends ``{"message": text}`` and its consumers broadcast it to the room
as ``{"message": text}``; the token is the text, so the consumers run unchanged.
"""

from __future__ import annotations

import json


class Chat:
    """``{"message": token}`` out, the same back to every member of the room."""

    recipients = "room"

    def message(self, token: str) -> str:
        return json.dumps({"message": token})

    def token(self, frame: str | bytes) -> str | None:
        # A frame without a message is no chat frame at all: malformed, as it always was.
        message: str = json.loads(frame)["message"]
        return message
