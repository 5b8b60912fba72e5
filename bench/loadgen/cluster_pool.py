"""One repeat's client workers on a Dask cluster: ``pool.WorkerPool``'s interface, with
Dask tasks for processes.

Each plan becomes one task pinned to one Dask worker (``workers=[address]``, no other
worker allowed) and never retried (``retries=0``: a load run twice is not the same
measurement). The plans learn where they run before they are sent: each client's host
and each host's clock offset (``Cluster.clocks``), so a worker times same-host pairs on
one clock and corrects cross-host pairs. ``start`` is translated to each host's clock.

A Dask worker that leaves the scheduler mid-repeat fails the point with its host named;
the others are told to stop and waited for, so no task is left holding a worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from distributed import Client, wait

from bench.errors import PointFailed
from bench.loadgen.cluster_link import (
    ALIVE,
    KEEPALIVE_S,
    Mailbox,
    command_queue,
    event_queue,
    run_task,
)
from bench.loadgen.link import ERROR, PROGRESS, START, STOP, WorkerProgress, pack, unpack
from bench.loadgen.worker import WorkerPlan
from bench.results.hosts import HostPlace, describe_hosts

if TYPE_CHECKING:
    from bench.loadgen.cluster import Cluster, DaskWorker, HostClock
    from bench.results.model import Calibration, Repeat, WorkerResult

# The longest a wait listens for messages before it looks at the server again.
POLL_S = 0.25
# How often a wait asks the scheduler which workers are alive.
ALIVE_CHECK_S = 1.0
# How long the stop waits for the tasks to end once told to, before cancelling them.
STOP_WAIT_S = 15.0


class ClusterPool:
    """The client workers of one repeat as Dask tasks; a context manager that stops them."""

    def __init__(self, cluster: Cluster, plans: list[WorkerPlan]) -> None:
        self.cluster = cluster
        client = cluster.client
        try:
            workers = cluster.workers()
            self.clocks: dict[str, HostClock] = cluster.clocks(workers)
        except OSError as exc:  # CommClosedError and timeouts are OSErrors
            raise cluster.gone(exc) from None
        except (KeyError, ValueError) as exc:  # a worker left meanwhile
            raise PointFailed(f"the cluster changed while placing the clients: {exc!r}") from None
        hosts = list(self.clocks)
        # Plan i on worker i (mod n): the measured plans are as many as the workers.
        self.places: list[DaskWorker] = [workers[i % len(workers)] for i in range(len(plans))]
        self.plans = _placed(plans, self.places, hosts, self.clocks)
        self.run_id = uuid.uuid4().hex[:12]
        self.index = {plan.worker: i for i, plan in enumerate(self.plans)}
        try:
            self._submit(client)
        except OSError as exc:
            raise cluster.gone(exc) from None

    def _submit(self, client: Client) -> None:
        """The mailboxes, and one pinned task per plan."""
        self.commands = [Mailbox(command_queue(self.run_id, p.worker), client) for p in self.plans]
        self.events = Mailbox(event_queue(self.run_id), client)
        self.futures = [
            client.submit(
                run_task,
                plan.to_json(),
                self.run_id,
                key=f"chanbench-{self.run_id}-{plan.worker}",
                workers=[place.address],
                allow_other_workers=False,
                retries=0,
                pure=False,
            )
            for plan, place in zip(self.plans, self.places, strict=True)
        ]

    def __enter__(self) -> ClusterPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __len__(self) -> int:
        return len(self.plans)

    def pids(self) -> list[int]:
        """None the local monitor can read: the processes are Dask's, maybe elsewhere."""
        return []

    def offset_ns(self, index: int) -> int:
        return self.clocks[self.places[index].host].offset_ns

    def broadcast(self, kind: str, value: Any = None) -> None:
        """Every worker's command queue; ``start`` in each host's own clock."""
        for i, commands in enumerate(self.commands):
            sent = value + self.offset_ns(i) if kind == START else value
            with contextlib.suppress(Exception):  # a worker gone is found by gather
                commands.put(pack(kind, sent).decode())

    def gather(
        self,
        wanted: str,
        timeout_s: float,
        on_progress: Callable[[int, WorkerProgress], None] | None = None,
        check: Callable[[], None] | None = None,
    ) -> list[Any]:
        """One ``wanted`` message from every worker within ``timeout_s``, in plan order;
        a worker's error, its task's failure or its Dask worker's death fails the point."""
        got: dict[int, Any] = {}
        deadline = time.monotonic() + timeout_s
        said_alive = looked = time.monotonic()
        while len(got) < len(self.plans):
            if time.monotonic() - said_alive > KEEPALIVE_S:
                self.broadcast(ALIVE)
                said_alive = time.monotonic()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PointFailed(f"Dask workers sent no {wanted!r} within {timeout_s:.0f} s")
            if check is not None:
                check()
            try:
                messages = self._messages(min(remaining, POLL_S))
            except OSError as exc:  # CommClosedError and timeouts are OSErrors
                raise self.cluster.gone(exc) from None
            for index, kind, value in messages:
                if kind == wanted:
                    got[index] = value
                elif kind == PROGRESS and on_progress is not None:
                    progress = WorkerProgress.from_json(value)
                    progress.t_ns -= self.offset_ns(index)  # onto the coordinator's clock
                    on_progress(index, progress)
                elif kind == ERROR:
                    raise PointFailed(f"client worker on {self._where(index)}: {value}")
            if time.monotonic() - looked > ALIVE_CHECK_S:
                self._check_alive([i for i in range(len(self.plans)) if i not in got])
                looked = time.monotonic()
        return [got[i] for i in range(len(self.plans))]

    def _messages(self, timeout_s: float) -> list[tuple[int, str, Any]]:
        """What arrived, waiting up to ``timeout_s`` for the first."""
        out = []
        for item in self.events.take(timeout_s):
            worker, data = json.loads(item)
            index = self.index[int(worker)]
            try:
                kind, value = unpack(data.encode())
            except ValueError as exc:
                kind, value = ERROR, f"sent a garbled message: {exc}"
            out.append((index, kind, value))
        return out

    def _check_alive(self, pending: list[int]) -> None:
        """A pending worker whose Dask worker left, or whose task failed, fails the point."""
        alive = set(self.cluster.addresses())
        for i in pending:
            future = self.futures[i]
            if self.places[i].address not in alive:
                raise PointFailed(
                    f"Dask worker {self.places[i].address} on host {self.places[i].host} "
                    f"died during the repeat, with {len(self.plans[i].clients)} clients"
                )
            if future.status == "error":
                raise PointFailed(
                    f"client worker on {self._where(i)} failed: {future.exception()} "
                    "(is chanbench[cluster] installed there?)"
                )

    def _where(self, index: int) -> str:
        place = self.places[index]
        return f"host {place.host} (Dask worker {place.address})"

    def stop(self) -> None:
        """Tell every worker to stop, wait for the tasks to end, cancel what is left."""
        self.broadcast(STOP)
        alive: set[str] = set()
        with contextlib.suppress(Exception):
            alive = set(self.cluster.addresses())
        running = [f for f, p in zip(self.futures, self.places, strict=True) if p.address in alive]
        with contextlib.suppress(Exception):
            wait(running, timeout=STOP_WAIT_S)
        with contextlib.suppress(Exception):
            self.cluster.client.cancel(self.futures, force=True)

    def describe(
        self, record: Repeat, results: list[WorkerResult], calibration: Calibration | None
    ) -> None:
        """The repeat's hosts, and its cross-host latency where the clocks allow it."""
        where = {
            plan.worker: HostPlace(place.host, place.ip, place.address)
            for plan, place in zip(self.plans, self.places, strict=True)
        }
        clocks = {host: (c.offset_ns, c.bound_ns) for host, c in self.clocks.items()}
        describe_hosts(record, results, where, clocks, calibration)


def _placed(
    plans: list[WorkerPlan],
    places: list[DaskWorker],
    hosts: list[str],
    clocks: dict[str, HostClock],
) -> list[WorkerPlan]:
    """The plans with where each client runs: its host number per global client index,
    within each group of plans that share an index space (the measured clients, the
    neighbours), and every host's clock offset."""
    if len(hosts) < 2:
        return plans  # one host, one clock: every pair is same-host
    offsets = [clocks[h].offset_ns for h in hosts]
    groups: dict[str, list[int]] = {}
    for plan, place in zip(plans, places, strict=True):
        senders = groups.setdefault(plan.url_template, [0] * plan.point.clients)
        for index, _ in plan.clients:
            if index >= len(senders):
                senders.extend([0] * (index + 1 - len(senders)))
            senders[index] = hosts.index(place.host)
    return [
        dataclasses.replace(
            plan,
            host=hosts.index(place.host),
            sender_hosts=groups[plan.url_template],
            clock_offsets_ns=offsets,
        )
        for plan, place in zip(plans, places, strict=True)
    ]
