"""The client pool: the load generator's worker processes for one repeat.

It splits the clients over worker processes (whole rooms per worker where it can),
starts them (never inside the server), speaks their JSON protocol (``[kind, value]``
arrays: the runner sends ``start`` and ``stop``; workers answer ``connected``,
``progress``, ``result`` or ``error``), and stops them by PID however the repeat ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any, Protocol

from bench.errors import PointFailed, UserError
from bench.loadgen import CONNECT_TIMEOUT_S, WorkerPlan, worker_main
from bench.loadgen.clients import CONNECT_CONCURRENCY
from bench.loadgen.link import ERROR, PROGRESS, STOP, WorkerProgress, pack, unpack
from bench.protocols import DEFAULT_PROTOCOL
from bench.scenario import Point

if TYPE_CHECKING:
    from bench.results.model import Calibration, Repeat, WorkerResult

# One picows client process receives 36k-48k messages/s on this kind of machine; 5,000
# clients per process keeps connection bookkeeping well inside that.
CLIENTS_PER_PROCESS = 5000
# How often a wait for workers looks at the server (and the clock) again.
POLL_S = 0.25
# What the pool reports for a worker whose pipe closed before it answered.
DIED = "died"
# A worker process starts (imports uvloop, picows, numpy) in well under 2 s.
WORKER_START_TIMEOUT_S = 20.0
# The clients start their phases this long after the last one connected, on one clock.
START_DELAY_S = 0.3
# The fewest connections a second a server under test accepts that the connect budget
# allows for: one Daphne on 2 busy cores accepted 140/s on average connecting 9,000
# clients (docs/cluster.md); a budget at the scenario's connect_rate (2,000/s) failed
# repeats that were still connecting steadily.
SLOWEST_ACCEPTS_PER_S = 100.0
# Beyond its phases, how long a repeat may take to report before it is failed.
RESULT_GRACE_S = 30.0


def connect_budget_s(point: Point, clients: int) -> float:
    """How long ``clients`` of ``point`` may take to start and connect before it fails:
    at ``connect_rate``, but never faster than a loaded server accepts them."""
    rate = min(point.connect_rate or SLOWEST_ACCEPTS_PER_S, SLOWEST_ACCEPTS_PER_S)
    return WORKER_START_TIMEOUT_S + CONNECT_TIMEOUT_S * 2 + clients / rate


def result_budget_s(point: Point) -> float:
    """How long the phases may take, from the start command to every worker's result."""
    return START_DELAY_S + point.warmup_s + point.duration_s + point.drain_max_s + RESULT_GRACE_S


def plan_workers(
    point: Point,
    template: str,
    origin_header: str,
    seed: int,
    paths: Sequence[str] = (),
    placement: Placement | None = None,
) -> list[WorkerPlan]:
    """Split the clients over worker processes (one per Dask worker on a ``placement``,
    else the point's ``client_processes`` or as many as the clients need): rooms
    round-robin over clients, and whole rooms per worker where there are enough rooms
    (fewer cross-process rooms); ``paths``: where the workers look for the point's
    protocol module first."""
    processes = (
        (placement.processes(point) if placement else 0)
        or point.client_processes
        or math.ceil(point.clients / CLIENTS_PER_PROCESS)
    )
    processes = max(1, min(processes, point.clients))
    rooms = point.room_count
    shares: list[list[tuple[int, int]]] = [[] for _ in range(processes)]
    for index in range(point.clients):
        room = index % rooms
        worker = room % processes if rooms >= processes else index % processes
        shares[worker].append((index, room))
    return [
        WorkerPlan(
            worker=w,
            clients=share,
            url_template=template,
            origin=origin_header,
            point=point,
            connect_rate=point.connect_rate / processes if point.connect_rate else 0.0,
            connect_concurrency=max(1, CONNECT_CONCURRENCY // processes),
            seed=seed,
            # Whole rooms per worker: it can tell when every delivery owed has arrived.
            whole_rooms=rooms >= processes,
            protocol_paths=list(paths),
        )
        for w, share in enumerate(shares)
        if share
    ]


def plan_neighbours(
    point: Point,
    url_for: Callable[[Point], tuple[str, str]],
    first: int,
    seed: int,
) -> list[WorkerPlan]:
    """The plans of the point's unmeasured neighbours (none without any), numbered from
    ``first``: their route (``url_for`` gives a point's URL template and Origin), open
    loop at their rate, in rooms ``n0``, ``n1``... of their own."""
    route = point.neighbour_route
    if route is None:
        return []
    flavour, workload = route
    shape = dataclasses.replace(
        point,
        consumer=flavour,
        workload=workload,
        fault="none",
        clients=point.neighbour_clients,
        rooms=1,
        clients_per_room=min(point.clients_per_room or 10, point.neighbour_clients),
        mode="open",
        rate=point.neighbour_rate,
        arrival="constant",
        client_processes=1,
        protocol=DEFAULT_PROTOCOL,  # the neighbours are chanbench's own chat clients
    )
    template, origin_header = url_for(shape)
    # A --target with {room} in it names one route for every point: the neighbours would
    # land in the measured consumer (harmless only when it is the same route anyway).
    if (flavour, workload) != (point.route, point.workload) and template == url_for(point)[0]:
        raise UserError(
            f"neighbour = {point.neighbour!r} with a --target that names its route "
            "({room}): give the server's base URL, ws://host:port"
        )
    plans = plan_workers(shape, template.replace("{room}", "n{room}"), origin_header, seed)
    return [dataclasses.replace(plan, worker=first + plan.worker) for plan in plans]


def exit_description(code: int | None) -> str:
    """``exited with code 1``, ``was killed by SIGKILL``, or ``exited`` (code unknown)."""
    if code is None:
        return "exited"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Pool(Protocol):
    """One repeat's client workers, wherever they run: ``WorkerPool`` (local processes)
    or ``cluster_pool.ClusterPool`` (Dask tasks)."""

    def __enter__(self) -> Pool: ...
    def __exit__(self, *exc: object) -> None: ...
    def __len__(self) -> int: ...
    def pids(self) -> list[int]: ...
    def broadcast(self, kind: str, value: Any = None) -> None: ...
    def gather(
        self,
        wanted: str,
        timeout_s: float,
        on_progress: Callable[[int, WorkerProgress], None] | None = None,
        check: Callable[[], None] | None = None,
    ) -> list[Any]: ...
    def describe(
        self, record: Repeat, results: list[WorkerResult], calibration: Calibration | None
    ) -> None: ...


class Placement(Protocol):
    """Where client workers run other than as local processes (``cluster.Cluster``)."""

    def processes(self, point: Point) -> int: ...
    def pool(self, plans: list[WorkerPlan]) -> Pool: ...
    def clients_here(self) -> bool: ...


def open_pool(plans: list[WorkerPlan], placement: Placement | None) -> Pool:
    """One repeat's client workers: local processes, or on ``placement``."""
    return placement.pool(plans) if placement else WorkerPool(plans)


class WorkerPool:
    """The client worker processes of one repeat; a context manager that stops them."""

    def __init__(self, plans: list[WorkerPlan]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for plan in plans:
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=worker_main,
                args=(plan.to_json(), child),
                daemon=True,
                name=f"chanbench-client-{plan.worker}",
            )
            # Born with SIGINT blocked (it ignores it once running): a Ctrl-C to the
            # process group while it imports would print its traceback. Ours is held
            # until the process is ours to stop. (The resource tracker first: starting
            # it unblocks SIGINT.)
            resource_tracker.ensure_running()
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                proc.start()
                child.close()
                self.conns.append(parent)
                self.procs.append(proc)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __len__(self) -> int:
        return len(self.conns)

    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def broadcast(self, kind: str, value: Any = None) -> None:
        data = pack(kind, value)
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send_bytes(data)

    def messages(self, timeout_s: float, pending: list[int]) -> Iterator[tuple[int, str, Any]]:
        """(worker, kind, value) as they arrive from the ``pending`` workers, until
        ``timeout_s`` passes with none.

        Only pending workers are listened to: one that has sent what was asked may exit,
        and its closed pipe must not read as a death.
        """
        ready = wait([self.conns[i] for i in pending], timeout_s)
        for conn in ready:
            assert isinstance(conn, Connection)
            index = self.conns.index(conn)
            try:
                kind, value = unpack(conn.recv_bytes())
            except (EOFError, OSError):
                proc = self.procs[index]
                proc.join(1.0)  # reap it, for its exit code
                kind, value = DIED, f"pid {proc.pid} {exit_description(proc.exitcode)}"
            except ValueError as exc:
                kind, value = ERROR, f"sent a garbled message: {exc}"
            yield index, kind, value

    def gather(
        self,
        wanted: str,
        timeout_s: float,
        on_progress: Callable[[int, WorkerProgress], None] | None = None,
        check: Callable[[], None] | None = None,
    ) -> list[Any]:
        """One ``wanted`` message from every worker within ``timeout_s``, in worker order.

        ``check`` is called between waits (it raises when the server died); a worker
        error or death fails the point."""
        got: dict[int, Any] = {}
        deadline = time.monotonic() + timeout_s
        while len(got) < len(self.conns):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PointFailed(f"client processes sent no {wanted!r} within {timeout_s:.0f} s")
            if check is not None:
                check()
            pending = [i for i in range(len(self.conns)) if i not in got]
            for index, kind, value in self.messages(min(remaining, POLL_S), pending):
                if kind == wanted:
                    got[index] = value
                elif kind == PROGRESS and on_progress is not None:
                    on_progress(index, WorkerProgress.from_json(value))
                elif kind in (ERROR, DIED):
                    raise PointFailed(f"client process {index}: {value}")
        return [got[i] for i in range(len(self.conns))]

    def describe(
        self, record: Repeat, results: list[WorkerResult], calibration: Calibration | None
    ) -> None:
        """Nothing to add: one host, one clock (a cluster's pool names its hosts)."""

    def stop(self) -> None:
        """Ask every worker to stop, then terminate and kill by PID whoever does not."""
        self.broadcast(STOP)
        for proc in self.procs:
            proc.join(2.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(2.0)
            if proc.is_alive():
                proc.kill()
                proc.join(2.0)
        for conn in self.conns:
            conn.close()
