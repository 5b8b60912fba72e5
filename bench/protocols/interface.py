"""What a client says on the wire: a protocol the user writes, and the token chanbench hides
in it.

A protocol is a plain class found by dotted path (``module:Class``), needing nothing from
chanbench (``WireProtocol`` is for type checkers): ``message(token)`` is the frame that
carries a token, ``token(frame)`` the token a received frame carries (None: it answers
nothing), ``recipients`` who is owed each message. The token is chanbench's alone,
``sender|seq|intended_ns|phase|padding`` in ASCII, so latency, duplicates, order and loss
are worked out from it whatever the protocol, and ``make_token`` beside ``read_token``
keeps the two ends of that format from drifting apart. The tutorial's chat is the default
protocol (``bench.protocols.chat``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Protocol

from bench.errors import UserError

# Phases carried in each message: warm-up messages are delivered but not accounted.
WARMUP, MEASURED = "w", "m"
# Who is owed each message: every member of the sender's room (the tutorial's chat), the
# sender alone (request/reply), or nobody (fire-and-forget: sent counted, nothing owed).
RECIPIENTS = ("room", "sender", "none")
DEFAULT_PROTOCOL = "bench.protocols.chat:Chat"
Frame = str | bytes


class Token(NamedTuple):
    """What a received frame says about the message it carries."""

    sender: int  # the sending client's global index
    seq: int  # the sender's sequence number, from 0
    sent_ns: int  # the intended send time, monotonic ns
    phase: str  # WARMUP or MEASURED


# What the books make of a frame that answers nothing (``token()`` gave None): no sender
# is -1, so no client's closed loop takes it for its echo.
UNMATCHED = Token(-1, -1, 0, "")


class WireProtocol(Protocol):
    """The interface a protocol class offers (optional members: ``hello``, ``headers``,
    ``path``, ``binary``; ``Protocol`` below fills them in)."""

    recipients: ClassVar[str]

    def message(self, token: str) -> Frame: ...

    def token(self, frame: Frame) -> str | None: ...


def make_token(sender: int, seq: int, intended_ns: int, phase: str, padding: str) -> str:
    """The token of one message; ``padding`` brings the frame to ``message_bytes``."""
    return f"{sender}|{seq}|{intended_ns}|{phase}|{padding}"


def read_token(text: str) -> Token:
    """The token ``make_token`` wrote; ``ValueError`` for anything this harness did not."""
    try:
        sender, seq, sent_ns, phase, _ = text.split("|", 4)
        return Token(int(sender), int(seq), int(sent_ns), phase)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a chanbench token: {type(exc).__name__}: {exc}") from None


class Loaded:
    """A user's protocol object with its optional members filled in: what the worker
    calls, on the hot path ``message`` and ``token`` as bound methods."""

    def __init__(self, spec: str, impl: Any) -> None:
        self.spec = spec
        self.impl = impl
        self.recipients: str = getattr(impl, "recipients", "room")
        self.binary: bool = bool(getattr(impl, "binary", False))
        self.path: str | None = getattr(impl, "path", None)
        self.message = impl.message
        self.token = impl.token
        self._hello = getattr(impl, "hello", None)
        self._headers = getattr(impl, "headers", None)

    def hello(self, client: int, room: int) -> list[Frame]:
        """The frames a client sends once connected (join, subscribe); none by default."""
        return list(self._hello(client, room)) if self._hello else []

    def headers(self, client: int) -> dict[str, str]:
        """Extra handshake headers for ``client`` (a cookie, an Authorization)."""
        return dict(self._headers(client)) if self._headers else {}


def import_paths(scenario_path: str | None) -> list[str]:
    """Where a protocol module is looked for before ``sys.path``: the scenario file's
    folder, then the current one. The worker processes get the same list in their plan."""
    folders = [Path(scenario_path).resolve().parent] if scenario_path else []
    folders.append(Path.cwd())
    return list(dict.fromkeys(str(f) for f in folders))


def load(spec: str, paths: Sequence[str] = ()) -> Loaded:
    """The protocol at ``module:Class``, instantiated and checked; a ``UserError`` naming
    what is wrong for a module that cannot be imported or a class that is not a protocol."""
    where = f"protocol = {spec!r}"
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise UserError(f"{where}: give module:Class, e.g. myproto:PingPong")
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise UserError(
            f"{where}: cannot import {module_name} ({type(exc).__name__}: {exc}); it is "
            "looked for beside the scenario file, in the current folder and on PYTHONPATH"
        ) from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise UserError(f"{where}: module {module_name} has no {class_name}")
    try:
        impl = cls()
    except Exception as exc:
        raise UserError(f"{where}: {class_name}() failed: {type(exc).__name__}: {exc}") from None
    missing = [name for name in ("message", "token") if not callable(getattr(impl, name, None))]
    if missing:
        raise UserError(
            f"{where}: {class_name} lacks {' and '.join(missing)}: a protocol needs "
            "message(token) -> frame and token(frame) -> str | None (docs/own-consumer.md)"
        )
    recipients = getattr(impl, "recipients", "room")
    if recipients not in RECIPIENTS:
        raise UserError(
            f"{where}: recipients = {recipients!r}: must be one of {', '.join(RECIPIENTS)}"
        )
    route = getattr(impl, "path", None)
    if route is not None and (not isinstance(route, str) or not route.startswith("/")):
        raise UserError(f"{where}: path = {route!r}: give a route such as '/ws/ping/{{room}}/'")
    return Loaded(spec, impl)
