"""Load from several hosts: a Dask scheduler and its workers, as the load generator's hosts.

chanbench writes no cluster manager: Dask distributed places the tasks, carries the
messages and notices a worker that died. ``Cluster`` is the coordinator's connection
(``--cluster tcp://HOST:PORT``, or ``local:N``: a ``dask scheduler`` and N ``dask
worker`` processes started here, and stopped by PID: ``LocalDask``);
``cluster_pool.ClusterPool`` runs one repeat's client workers on it. Imported only when
a cluster is asked for: the default path never imports Dask.

Clocks: a worker's ``start`` is a time on its own clock, and a delivery between hosts is
stamped by two clocks. Each host's offset from the coordinator's clock is estimated
NTP-style: ``Client.run`` reads the worker's clock through the scheduler ``CLOCK_SAMPLES``
times; the sample with the shortest round trip gives the offset (its clock minus the
midpoint of the coordinator's send and receive) and the bound (half that round trip).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from distributed import Client

from bench.deploy.processes import free_port, start_process, stop_process
from bench.errors import PointFailed, UserError
from bench.loadgen import clock
from bench.loadgen.cluster_link import HOST_ENV, clock_now_ns, host_facts
from bench.loadgen.cluster_pool import ClusterPool
from bench.loadgen.worker import WorkerPlan
from bench.scenario import Point

# An unreachable scheduler is said in one line after this long (``docs/cluster.md``).
CONNECT_TIMEOUT_S = 10.0
# How long a run waits for the Dask workers it asks for before saying how many it found.
WORKERS_WAIT_S = 30.0
# Round trips per host for its clock offset: the shortest one bounds the error.
CLOCK_SAMPLES = 16
# local:N: on loopback; two threads a worker (the load's task, and Dask's own).
LOCAL_HOST = "127.0.0.1"
LOCAL_THREADS = 2
LOCAL_MAX_WORKERS = 64
SPEC = re.compile(r"^(?:(?P<local>local):(?P<n>\d+)|(?P<address>(?:tcp|tls)://\S+:\d+))$")
HINT = "give --cluster tcp://HOST:PORT (a `dask scheduler`) or local:N (N worker processes here)"


@dataclass(frozen=True)
class DaskWorker:
    """One Dask worker process and the host it counts as."""

    address: str
    host: str  # its name (the machine's, or CHANBENCH_HOST)
    ip: str
    pid: int


@dataclass(frozen=True)
class HostClock:
    """A host's clock minus the coordinator's, within +-``bound_ns`` (half the round trip
    of the sample it came from)."""

    offset_ns: int
    bound_ns: int


def parse_spec(spec: str) -> tuple[str | None, int]:
    """``(address, 0)`` for a scheduler, ``(None, N)`` for ``local:N``; UserError else."""
    match = SPEC.match(spec.strip())
    if match is None:
        raise UserError(f"--cluster {spec!r}: not a cluster address; {HINT}")
    if match["local"]:
        n = int(match["n"])
        if not 1 <= n <= LOCAL_MAX_WORKERS:
            raise UserError(f"--cluster {spec!r}: local:N takes 1 to {LOCAL_MAX_WORKERS} workers")
        return None, n
    return match["address"], 0


@dataclass
class LocalDask:
    """A scheduler and its workers started here as commands (``local:N``, the tests):
    each in its own session, so a terminal's Ctrl-C reaches chanbench alone, dying with
    chanbench if it is killed, and stopped by PID."""

    address: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def start(cls, workers: Sequence[Mapping[str, str]], log_dir: Path) -> LocalDask:
        """A scheduler on a free loopback port and one ``--no-nanny`` worker per entry of
        ``workers`` (the environment variables each gets besides ours: ``HOST_ENV``, a
        test's clock shift). Their logs go to ``log_dir``."""
        log_dir.mkdir(parents=True, exist_ok=True)
        port = free_port(LOCAL_HOST)
        local = cls(f"tcp://{LOCAL_HOST}:{port}")
        dask = [sys.executable, "-m", "dask"]
        try:
            with (log_dir / "dask-scheduler.log").open("ab") as log:
                argv = ["scheduler", "--host", LOCAL_HOST, "--port", str(port)]
                local.procs.append(start_process([*dask, *argv, "--no-dashboard"], log=log))
            for i, extra in enumerate(workers):
                argv = ["worker", local.address, "--host", LOCAL_HOST, "--no-nanny"]
                argv += ["--nthreads", str(LOCAL_THREADS), "--no-dashboard"]
                argv += ["--name", extra.get(HOST_ENV, f"local-{i}")]
                with (log_dir / f"dask-worker-{i}.log").open("ab") as log:
                    env = {**os.environ, **extra}
                    local.procs.append(start_process([*dask, *argv], log=log, env=env))
        except BaseException:
            local.stop()
            raise
        return local

    def stop(self) -> None:
        """The workers, then the scheduler, by PID."""
        for proc in reversed(self.procs):
            stop_process(proc)


class Cluster:
    """The coordinator's Dask client, and the scheduler and workers it started
    (``local:N``)."""

    def __init__(self, spec: str, log_dir: Path) -> None:
        self.spec = spec
        address, self.local_workers = parse_spec(spec)
        self.local: LocalDask | None = None
        if address is None:
            self.local = LocalDask.start([{}] * self.local_workers, log_dir)
            address = self.local.address
        self.address = address
        try:
            # Retries until the timeout (a scheduler starting), then raises OSError.
            self.client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            if self.local is not None:
                self.require(self.local_workers)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise UserError(
                f"--cluster {spec}: no Dask scheduler answered at {address} within "
                f"{CONNECT_TIMEOUT_S:.0f} s ({type(exc).__name__}); start one with "
                f"`dask scheduler` there, or check the address"
            ) from None
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect; what ``local:N`` started is stopped, by PID."""
        client = getattr(self, "client", None)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=5)
        if self.local is not None:
            self.local.stop()
            self.local = None

    # --- the workers --------------------------------------------------------------------

    def require(self, wanted: int, why: str = "") -> None:
        """Wait up to ``WORKERS_WAIT_S`` for ``wanted`` workers; UserError with how many
        were found."""
        try:
            self.client.wait_for_workers(wanted, timeout=WORKERS_WAIT_S)
        except (TimeoutError, OSError):
            found = len(self.addresses())
            raise UserError(
                f"--cluster {self.spec}: {found} Dask worker(s) after {WORKERS_WAIT_S:.0f} s, "
                f"{wanted} wanted{why}; start more with `dask worker {self.address}` "
                "on the load hosts, or ask for fewer"
            ) from None

    def check(self, points: list[Point]) -> None:
        """Before the run: the scheduler has the workers the points ask for
        (``client_processes``, else at least one)."""
        wanted = max((p.client_processes for p in points), default=0)
        try:
            self.require(max(1, wanted), f" (client_processes = {wanted})" if wanted else "")
        except PointFailed as exc:
            raise UserError(f"--cluster {self.spec}: {exc}") from None

    def addresses(self) -> list[str]:
        """The workers alive now, as the scheduler knows them (asked, not cached)."""
        try:
            if self.client.status != "running":  # it gave up reconnecting, and closed
                raise ConnectionError(f"the client is {self.client.status}")
            return sorted(self.client.scheduler_info(n_workers=-1)["workers"])
        except (OSError, KeyError) as exc:  # CommClosedError, timeouts: OSErrors
            raise self.gone(exc) from None

    def gone(self, exc: BaseException) -> PointFailed:
        """The scheduler stopped answering: the point fails (and so will the next)."""
        return PointFailed(
            f"the Dask scheduler at {self.address} stopped answering ({type(exc).__name__}: {exc})"
        )

    def workers(self, count: int = 0) -> list[DaskWorker]:
        """The first ``count`` workers (all with 0), with the host each counts as."""
        addresses = self.addresses()[: count or None]
        if not addresses:
            raise UserError(f"--cluster {self.spec}: no Dask worker is left on the scheduler")
        facts = self.client.run(host_facts, workers=addresses)
        return [
            DaskWorker(
                address=a,
                host=facts[a]["host"],
                ip=a.split("://")[-1].rsplit(":", 1)[0],
                pid=facts[a]["pid"],
            )
            for a in addresses
        ]

    def processes(self, point: Point) -> int:
        """How many client workers a point gets: one per Dask worker it uses."""
        alive = len(self.addresses())
        return min(point.client_processes, alive) if point.client_processes else alive

    def clocks(self, workers: list[DaskWorker]) -> dict[str, HostClock]:
        """Each host's clock offset and its bound, from its first worker."""
        out: dict[str, HostClock] = {}
        for worker in workers:
            if worker.host not in out:
                out[worker.host] = self.clock(worker.address)
        return out

    def clock(self, address: str) -> HostClock:
        """One worker's clock offset, from the shortest of ``CLOCK_SAMPLES`` round trips."""
        best: tuple[int, int] | None = None
        for _ in range(CLOCK_SAMPLES):
            sent = clock.now_ns()
            theirs = self.client.run(clock_now_ns, workers=[address])[address]
            back = clock.now_ns()
            sample = (back - sent, theirs - (sent + back) // 2)
            if best is None or sample[0] < best[0]:
                best = sample
        assert best is not None
        return HostClock(offset_ns=best[1], bound_ns=(best[0] + 1) // 2)

    def clients_here(self) -> bool:
        """Whether the client workers run on this machine (``local:N``)."""
        return self.local is not None

    def pool(self, plans: list[WorkerPlan]) -> ClusterPool:
        """One repeat's client workers on this cluster."""
        return ClusterPool(self, plans)
