"""Protocols: what the clients say on the wire, and the token chanbench hides in it.

``interface`` holds the interface a user's protocol class offers, the token, and loading a
protocol by ``module:Class``; ``chat`` is the tutorial's chat, the default, written with
that same interface. Nothing here imports the rest of chanbench but ``errors``, so the
scenario can check a protocol before any process starts.
"""

from bench.protocols.interface import (
    DEFAULT_PROTOCOL,
    MEASURED,
    RECIPIENTS,
    UNMATCHED,
    WARMUP,
    Frame,
    Loaded,
    Token,
    WireProtocol,
    import_paths,
    load,
    make_token,
    read_token,
)

__all__ = [
    "DEFAULT_PROTOCOL",
    "MEASURED",
    "RECIPIENTS",
    "UNMATCHED",
    "WARMUP",
    "Frame",
    "Loaded",
    "Token",
    "WireProtocol",
    "import_paths",
    "load",
    "make_token",
    "read_token",
]
