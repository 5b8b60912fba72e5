"""The pipe between the runner and a worker: JSON arrays ``[kind, value]`` both ways.

Plain JSON, as pyperf's workers speak it, so nothing but data crosses the process boundary
and a worker could run anywhere. Worker to runner: ``connected`` (``Connected``),
``progress`` (``WorkerProgress``), ``result`` (``WorkerResult``), ``error`` (one line).
Runner to worker: ``connect`` (the server is ready: open the websockets), ``start`` (t0,
monotonic ns) and ``stop``. The records' shapes are written down here, once.

The worker speaks through a ``Link``: ``RunnerLink`` is the pipe to a local runner;
``bench.loadgen.cluster_link.DaskLink`` carries the same messages through a Dask scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Protocol

from bench.results.record import Record

CONNECTED, PROGRESS, RESULT, ERROR = "connected", "progress", "result", "error"
CONNECT, START, STOP = "connect", "start", "stop"

Message = tuple[str, Any]


@dataclass
class Connected(Record):
    """A worker's clients have connected, or failed to (errors by exception name), and
    each handshake's time in ms (queued behind ``CONNECT_CONCURRENCY`` included)."""

    connected: int = 0
    failures: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    connect_ms: list[float] = field(default_factory=list)

    @classmethod
    def total(cls, reports: Iterable[Any]) -> Connected:
        """Every worker's report (as sent: JSON) summed: one pool's clients."""
        out = cls()
        for report in reports:
            got = cls.from_json(report)
            out.connected += got.connected
            out.failures += got.failures
            out.connect_ms += got.connect_ms
            for name, count in got.errors.items():
                out.errors[name] = out.errors.get(name, 0) + count
        return out

    def why(self) -> str:
        """The failures by exception name, in one line: ``3 x ConnectionRefusedError``."""
        return ", ".join(f"{count} x {name}" for name, count in self.errors.items())


@dataclass
class WorkerProgress(Record):
    """A worker's counters while the load runs, every half second, for the progress line."""

    t_ns: int = 0  # when read, monotonic
    sent: int = 0
    # Good deliveries, as delivered/s counts them: first arrivals of any phase, no
    # duplicates, no malformed frames.
    received: int = 0
    p99_ms: float | None = None  # of the recent deliveries
    reconnects: int = 0  # churn under load: clients that left and came back so far


def pack(kind: str, value: Any) -> bytes:
    """One message as it goes through ``Connection.send_bytes`` (a record as its JSON)."""
    return json.dumps([kind, value.to_json() if isinstance(value, Record) else value]).encode()


def unpack(data: bytes) -> Message:
    """A message read with ``Connection.recv_bytes``; ValueError when it is not one."""
    try:
        kind, value = json.loads(data)
    except (ValueError, TypeError):
        raise ValueError(f"not a [kind, value] message: {data[:80]!r}") from None
    if not isinstance(kind, str):
        raise ValueError(f"not a [kind, value] message: {data[:80]!r}")
    return kind, value


class Link(Protocol):
    """The worker's end of its channel to the runner, whatever carries it."""

    def send(self, kind: str, value: Any) -> None:
        """Send one message; never blocks the event loop for long, never raises."""

    def listen(self) -> None:
        """Start receiving commands on the running event loop, until ``close``."""

    def close(self) -> None:
        """Stop receiving commands (a final ``send`` still goes out)."""

    async def command(self) -> Message:
        """The runner's next command: ``stop`` once it is gone, ValueError when garbled."""
        ...

    def flush(self) -> None:
        """Return once everything sent has left (before the worker ends)."""


class CommandQueue:
    """The runner's commands as a worker awaits them, whatever carries them (a pipe, a
    Dask queue): the carrier puts each one, or the ValueError of a garbled one."""

    def __init__(self) -> None:
        self._commands: asyncio.Queue[Message | ValueError] = asyncio.Queue()

    async def command(self) -> Message:
        """The runner's next command: ``stop`` once it is gone, ValueError when garbled."""
        item = await self._commands.get()
        if isinstance(item, ValueError):
            raise item
        return item


class RunnerLink(CommandQueue):
    """The worker's end of the pipe: commands are read on the event loop as they arrive."""

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self.conn = conn

    def send(self, kind: str, value: Any) -> None:
        with contextlib.suppress(OSError, ValueError):  # the runner is gone
            self.conn.send_bytes(pack(kind, value))

    def listen(self) -> None:
        """Start reading commands on the running event loop, until ``close``."""
        asyncio.get_running_loop().add_reader(self.conn.fileno(), self._on_readable)

    def close(self) -> None:
        """Stop reading commands. The pipe is blocking again from here: the event loop
        made it non-blocking to watch it, and a result bigger than the socket's buffer
        would otherwise fail half-written (EAGAIN)."""
        asyncio.get_running_loop().remove_reader(self.conn.fileno())
        os.set_blocking(self.conn.fileno(), True)

    def flush(self) -> None:
        """Nothing to wait for: ``send`` writes the pipe itself."""

    def _on_readable(self) -> None:
        item: Message | ValueError
        try:
            item = unpack(self.conn.recv_bytes())
        except (EOFError, OSError):
            item = (STOP, None)  # the runner is gone: stop too
        except ValueError as exc:
            item = exc
        self._commands.put_nowait(item)
