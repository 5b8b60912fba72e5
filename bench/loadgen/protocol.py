"""The token a client hides in the tutorial's ``message`` text, written and read here only.

The consumers run unchanged, so everything the books need travels inside the chat text:
``{"message": "sender|seq|intended_ns|phase|padding"}``. Keeping ``encode`` beside
``decode`` keeps the two ends of that format from drifting apart.
"""

from __future__ import annotations

import json
from typing import NamedTuple

# Phases carried in each message: warm-up messages are delivered but not accounted.
WARMUP, MEASURED = "w", "m"


class Token(NamedTuple):
    """What a received frame says about the message it carries."""

    sender: int  # the sending client's global index
    seq: int  # the sender's sequence number, from 0
    sent_ns: int  # the intended send time, monotonic ns
    phase: str  # WARMUP or MEASURED


def encode(sender: int, seq: int, intended_ns: int, phase: str, padding: str) -> bytes:
    """The whole websocket frame the chat page would send, with the token as its text."""
    return json.dumps({"message": f"{sender}|{seq}|{intended_ns}|{phase}|{padding}"}).encode()


def decode(data: bytes) -> Token:
    """The token in a frame; ``ValueError`` for anything this harness did not send."""
    try:
        sender, seq, sent_ns, phase, _ = json.loads(data)["message"].split("|", 4)
        return Token(int(sender), int(seq), int(sent_ns), phase)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a chanbench message: {type(exc).__name__}: {exc}") from None
