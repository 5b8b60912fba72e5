"""A worker's link to the runner through a Dask scheduler: the worker's side of a cluster.

The same ``[kind, value]`` messages as the local pipe (``link``), carried by two
``Mailbox``es per repeat (a distributed Queue and an Event on the scheduler): one per
worker for the runner's commands, one shared for everything the workers send back.
Nothing on the event loop waits for the scheduler: one thread receives commands and
hands them to the loop, another sends, so a message put during the measured window costs
the load a queue append, never a round trip; and nothing polls: a reader waits on the
scheduler until there is mail.

``run_task`` is what the coordinator submits, one per Dask worker (``cluster``).
Imported only on a cluster: it needs ``chanbench[cluster]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from distributed import Client, Event, Queue, get_client, get_worker, secede

from bench.deploy.processes import raise_open_file_limit
from bench.loadgen import clock
from bench.loadgen.link import STOP, CommandQueue, Message, pack, unpack
from bench.loadgen.worker import run_worker

# How long a receiver waits for mail at a time before it looks whether it was closed.
WAIT_S = 1.0
# A worker that hears nothing for this long takes its runner for gone and stops: a
# coordinator killed outright leaves no task holding a Dask worker for ever. The pool
# says ``alive`` every ``KEEPALIVE_S`` while it waits (a server's start, up to 30 s, is
# the longest it does not).
IDLE_STOP_S = 300.0
KEEPALIVE_S = 10.0
ALIVE = "alive"  # the link's own: reset the idle clock, never passed to the worker
# How long a worker's last messages (its result) may take to leave.
FLUSH_S = 60.0
# Set on a Dask worker that shares a machine with another but should count as a host of
# its own (network namespaces, tests): the host's name.
HOST_ENV = "CHANBENCH_HOST"


class Mailbox:
    """A distributed Queue with an Event beside it that says it holds mail. A reader
    waits on the Event, then takes everything at once: a wait that times out is no error,
    where a Queue's timed-out ``get`` is logged by the scheduler as one, and nobody
    polls the scheduler while nothing happens."""

    def __init__(self, name: str, client: Client) -> None:
        self.queue = Queue(name, client=client)
        self.ready = Event(f"{name}-ready", client=client)

    def put(self, text: str) -> None:
        self.queue.put(text)
        self.ready.set()

    def take(self, timeout_s: float) -> list[Any]:
        """What arrived, waiting up to ``timeout_s`` for the first (maybe nothing)."""
        if not self.ready.wait(timeout_s):
            return []
        self.ready.clear()  # before the read: mail put meanwhile sets it again
        return list(self.queue.get(batch=True))


def command_queue(run_id: str, worker: int) -> str:
    return f"chanbench-{run_id}-to-{worker}"


def event_queue(run_id: str) -> str:
    return f"chanbench-{run_id}-from"


def host_facts() -> dict[str, Any]:
    """What the coordinator needs to know of a Dask worker's host (run there by
    ``Client.run``): its name, the clock it stamps with, its cores."""
    name = os.environ.get(HOST_ENV) or socket.gethostname()
    return {"host": name, "pid": os.getpid(), "cores": os.cpu_count() or 1}


def clock_now_ns() -> int:
    """The worker's clock, for the coordinator's ping-pong (``Client.run``)."""
    return clock.now_ns()


class DaskLink(CommandQueue):
    """The ``link.Link`` of a worker that runs as a Dask task."""

    def __init__(self, run_id: str, worker: int) -> None:
        super().__init__()
        client = get_client()
        self.worker = worker
        self._commands_in = Mailbox(command_queue(run_id, worker), client)
        self._events_out = Mailbox(event_queue(run_id), client)
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._sender = threading.Thread(target=self._send_all, daemon=True)
        self._sender.start()

    def send(self, kind: str, value: Any) -> None:
        self._outbox.put(pack(kind, value))

    def listen(self) -> None:
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._receive_all, args=(loop,), daemon=True).start()

    def close(self) -> None:
        self._closed.set()

    def flush(self) -> None:
        self._outbox.put(None)
        self._sender.join(FLUSH_S)

    def _send_all(self) -> None:
        while (data := self._outbox.get()) is not None:
            with contextlib.suppress(Exception):  # the runner is gone: nothing to tell
                self._events_out.put(json.dumps([self.worker, data.decode()]))

    def _receive_all(self, loop: asyncio.AbstractEventLoop) -> None:
        heard = time.monotonic()
        while not self._closed.is_set():
            try:
                texts: list[str] | None = self._commands_in.take(WAIT_S)
            except Exception:  # the scheduler is gone: stop, as a closed pipe does
                texts = None
            if texts is None or (not texts and time.monotonic() - heard > IDLE_STOP_S):
                self._hand_over(loop, (STOP, None))
                return
            if texts:
                heard = time.monotonic()
            for text in texts:
                item: Message | ValueError
                try:
                    item = unpack(text.encode())
                except ValueError as exc:
                    item = exc
                if isinstance(item, ValueError) or item[0] != ALIVE:
                    self._hand_over(loop, item)

    def _hand_over(self, loop: asyncio.AbstractEventLoop, item: Message | ValueError) -> None:
        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(self._commands.put_nowait, item)


def run_task(plan_json: dict[str, Any], run_id: str) -> bool:
    """One load-generator worker as a Dask task: the worker's own loop (``run_worker``)
    on this thread, speaking through the scheduler. Returns whether it ended cleanly."""
    raise_open_file_limit()  # one socket per client
    # Out of the Dask worker's thread pool: the task holds its thread for the whole load,
    # and a staircase's steps, or neighbours, put several on one worker at once.
    secede()
    worker = int(plan_json["worker"])
    with _profiler_paused():
        return run_worker(plan_json, DaskLink(run_id, worker))


# The Dask worker's own periodic work that samples a running task.
PROFILER_CALLBACKS = ("profile", "profile-cycle")


@contextlib.contextmanager
def _profiler_paused() -> Iterator[None]:
    """The Dask worker's statistical profiler takes every running task's stack every
    10 ms, on its event loop and holding the GIL: beside the clients' event loop, time
    taken from them. Paused while the load runs, started again after."""
    worker = get_worker()
    running = [
        callback
        for name in PROFILER_CALLBACKS
        if (callback := worker.periodic_callbacks.get(name)) is not None and callback.is_running()
    ]
    for callback in running:
        worker.loop.add_callback(callback.stop)
    try:
        yield
    finally:
        for callback in running:
            worker.loop.add_callback(callback.start)
