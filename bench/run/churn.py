"""Churn: cycles of connect, exchange, disconnect, settle in one server process, with
the server's counters read after each cycle and a verdict per counter.

Each cycle starts a fresh client pool (``loadgen.pool``: connect the point's clients,
exchange ``messages`` each through the usual phases and books, hang up); then it waits
``settle_s`` for the server to let go of what those connections held, and reads the
counters (``bench.results.churn.COUNTERS``): the server's whole process tree from
/proc, its own counters through the site's probe (``consumers/chat/probe.py``, where
chanbench serves its site from one process), the run's Redis. The server is never
restarted between cycles. Ctrl-C keeps the cycles read so far, judged.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.deploy.listen import DEFAULT_BIND
from bench.deploy.processes import process_tree
from bench.deploy.site import netloc
from bench.errors import PointFailed
from bench.judge.leaks import judge_all
from bench.loadgen import WorkerPlan
from bench.loadgen.link import CONNECT, CONNECTED, RESULT, START, Connected
from bench.loadgen.pool import (
    START_DELAY_S,
    Placement,
    connect_budget_s,
    open_pool,
    result_budget_s,
)
from bench.results.books import WorkerResult
from bench.results.churn import COUNTERS, Churn, Cycle
from bench.results.model import Repeat, RepeatCounts
from bench.run.progress import Heartbeat
from bench.run.readings import read_memory, read_stat
from bench.scenario import Point

# The probe answers in milliseconds (one gc.collect() of a small server).
PROBE_TIMEOUT_S = 10.0
PROBE_PATH = "/_chanbench/probe/"
# How long a cycle waits after its clients hang up, by server kind, and why: the time
# the server's own timers take to drop a closed connection's application.
SETTLE_S: dict[str, tuple[float, str]] = {
    "daphne": (
        2.0,
        "Daphne drops a closed connection's application at its next check, run every "
        "1 s (an application still running is cancelled after application_close_timeout, "
        "10 s: raise settle_s for consumers slow to leave)",
    ),
}
DEFAULT_SETTLE = (
    1.0,
    "the server ends a connection's application task when its socket closes; 1 s covers "
    "the disconnect handlers",
)


def settle(point: Point) -> tuple[float, str]:
    """How long to wait after each cycle, and why: the point's ``settle_s``, or the
    server kind's own timers."""
    if point.settle_s:
        return point.settle_s, "settle_s as the scenario set it"
    return SETTLE_S.get(point.server, DEFAULT_SETTLE)


# Read and kept, not judged, under memray: its own buffers grow with what it records.
UNDER_MEMRAY = (
    "profile = memory: memray's own memory grows with what it records (15 to 48 KiB per "
    "connection-cycle on a server that leaks nothing), so it is read, not judged; judge "
    "memory on profile=none, find where on profile=memory"
)


@dataclass
class Where:
    """What a churn run can read of the server: its root PID (its own, or the
    ``--server-pid`` of a target), the probe's URL, the run's Redis, and why a source
    is missing."""

    pid: int | None
    probe_url: str | None = None
    redis_url: str | None = None
    unavailable: dict[str, str] = field(default_factory=dict)

    def missing(self, where: str, why: str) -> None:
        for name, counter in COUNTERS.items():
            if counter.where == where:
                self.unavailable.setdefault(name, why)


def where_for(
    point: Point,
    server_pid: int | None,
    port: int | None,
    redis_url: str | None,
    host: str = DEFAULT_BIND,
) -> Where:
    """The sources of a churn point: ``port`` is chanbench's own server's on ``host``
    (None for a ``--target``), ``server_pid`` its root (or the target's ``--server-pid``)."""
    where = Where(server_pid, redis_url=redis_url)
    if server_pid is None:
        where.missing("proc", "no server PID: give --server-pid with --target")
    if port is None:
        where.missing("probe", "a --target: chanbench does not serve its site there")
    elif point.workers > 1:
        where.missing("probe", "several server processes: the probe would reach one")
    elif point.sample_s and not point.probe_every:
        where.missing("probe", "probe_every = 0: not read during the soak's load")
    else:
        where.probe_url = f"http://{netloc(host, port)}{PROBE_PATH}"
    if redis_url is None:
        where.missing("redis", "no Redis in this run")
    if point.profile == "memory":
        for name in ("rss_bytes", "uss_bytes", "pss_bytes"):
            where.unavailable[name] = UNDER_MEMRAY
    if point.allocator == "malloc":
        where.unavailable["allocated_blocks"] = (
            "allocator = malloc: sys.getallocatedblocks() counts pymalloc's blocks alone"
        )
    return where


def read_proc(pid: int) -> dict[str, float]:
    """The server's whole tree: RSS, USS, PSS, open fds and threads, summed."""
    out: dict[str, float] = {}
    pids = process_tree(pid)
    stats = [s for s in map(read_stat, pids) if s is not None]
    memory = [read_memory(p) for p in pids]
    out["rss_bytes"] = sum(s.rss_bytes for s in stats)
    out["threads"] = sum(s.threads for s in stats)
    for name, values in (
        ("uss_bytes", [m.uss_bytes for m in memory]),
        ("pss_bytes", [m.pss_bytes for m in memory]),
        ("open_fds", [m.open_files for m in memory]),
    ):
        if values and None not in values:
            out[name] = sum(v for v in values if v is not None)
    return out


def read_probe(url: str) -> dict[str, float]:
    """The site's probe: allocated blocks, gc objects, asyncio tasks, the layer's state."""
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as answer:
            data = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # a site from before churn (a source environment's own)
            raise LookupError(f"the site served has no {PROBE_PATH}") from None
        raise
    # 0 blocks: pymalloc is off (PYTHONMALLOC=malloc), so the count says nothing.
    return {
        k: float(v) for k, v in data.items() if k in COUNTERS and (v or k != "allocated_blocks")
    }


def read_redis(url: str) -> dict[str, float]:
    """Redis' own view: clients connected, memory used, keys held."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT_S)
    try:
        info = client.info()
        return {
            "redis_connected_clients": float(info["connected_clients"]),
            "redis_used_memory": float(info["used_memory"]),
            "redis_keys": float(client.dbsize()),
        }
    finally:
        client.close()


def read_counters(where: Where, took_ms: dict[str, float] | None = None) -> dict[str, float]:
    """Every counter this run can read, each source tried alone: one that fails is named
    unavailable, with why, and the others are still read. ``took_ms`` gets each
    source's reading time (a soak's: the probe pauses the server while it collects)."""
    counters: dict[str, float] = {}
    sources: list[tuple[str, Callable[[], dict[str, float]]]] = []
    if where.pid is not None:
        sources.append(("proc", lambda: read_proc(where.pid or 0)))
    if where.probe_url:
        sources.append(("probe", lambda: read_probe(where.probe_url or "")))
    if where.redis_url:
        sources.append(("redis", lambda: read_redis(where.redis_url or "")))
    for source, read in sources:
        started = time.perf_counter()
        try:
            counters.update(read())
        except Exception as exc:  # a source that fails is named, never fatal
            where.missing(source, f"{type(exc).__name__}: {exc}"[:200])
        if took_ms is not None:
            took_ms[source] = round((time.perf_counter() - started) * 1000, 2)
    return counters


def judge(churn: Churn, where: Where, warmup_cycles: int, connections: float) -> None:
    """The verdicts over a churn's readings (cycles, or a soak's samples), per
    ``connections`` made per reading; a counter never read is named unavailable."""
    series = {name: churn.series(name) for name in COUNTERS}
    for name, values in series.items():
        if churn.cycles and all(v is None for v in values):
            where.unavailable.setdefault(name, "not kept by this server or its layer")
    judged = {name: values for name, values in series.items() if name not in where.unavailable}
    during_load = churn.kind == "soak"
    churn.verdicts = judge_all(judged, warmup_cycles, connections, during_load)


def run_cycle(
    point: Point,
    plans: list[WorkerPlan],
    check: Callable[[], None],
    index: int,
    placement: Placement | None = None,
) -> tuple[Cycle, Repeat]:
    """One cycle's clients (local processes, or on the run's ``placement``: a cluster):
    connect, exchange, hang up; their books as a ``Cycle``, and as a ``Repeat`` (with
    the hosts they ran on, on a cluster)."""
    started = time.monotonic()
    with open_pool(plans, placement) as pool:
        pool.broadcast(CONNECT)
        budget = connect_budget_s(point, point.clients)
        connected = Connected.total(pool.gather(CONNECTED, budget, check=check))
        if not connected.connected:
            # A server that died says so (``check``) before its refused clients do: its
            # death may take a moment to be seen.
            seen_until = time.monotonic() + 1.0
            while time.monotonic() < seen_until:
                check()
                time.sleep(0.05)
            raise PointFailed(f"cycle {index}: no client could connect")
        pool.broadcast(START, time.monotonic_ns() + int(START_DELAY_S * 1e9))
        budget = result_budget_s(point)
        results = [WorkerResult.from_json(r) for r in pool.gather(RESULT, budget, check=check)]
        repeat = Repeat.from_workers(
            index, results, clients=point.clients, duration_s=point.duration_s
        )
        pool.describe(repeat, results, None)
    counts = repeat.counts or RepeatCounts()
    cycle = Cycle(
        index=index,
        connected=counts.connected,
        connect_failures=counts.connect_failures,
        sent=counts.sent,
        expected=counts.expected,
        delivered=counts.delivered,
        lost=counts.lost,
        duration_s=round(time.monotonic() - started, 3),
    )
    return cycle, repeat


def measure_churn(
    point: Point,
    repeat: int,
    plans: list[WorkerPlan],
    where: Where,
    beat: Heartbeat,
    check: Callable[[], None],
    placement: Placement | None = None,
    mark: Callable[[str], None] = lambda name: None,
) -> Repeat:
    """Every cycle of a churn point against one running server; the repeat holds the
    cycles, their summed books and the verdicts. Ctrl-C ends it early, judged so far
    and marked interrupted; a cycle that fails (the server died) fails the repeat, which
    still keeps the cycles before it. ``mark("cycle")`` as each cycle's counters are
    read: the edge a memory profile cuts its leak view at."""
    settle_s, reason = settle(point)
    churn = Churn(
        clients=point.clients,
        warmup_cycles=point.warmup_cycles,
        settle_s=settle_s,
        settle_reason=reason,
        unavailable=where.unavailable,
    )
    totals: list[RepeatCounts] = []
    hosts = []
    interrupted = False
    failure: str | None = None
    try:
        for index in range(point.cycles):
            beat.doing = f"churn cycle {index + 1} of {point.cycles}"
            cycle, books = run_cycle(point, plans, check, index, placement)
            hosts = books.hosts  # on a cluster: the same workers every cycle
            time.sleep(settle_s)
            check()
            cycle.counters = read_counters(where)
            mark("cycle")
            churn.cycles.append(cycle)
            totals.append(books.counts or RepeatCounts())
    except KeyboardInterrupt:
        interrupted = True
    except PointFailed as exc:
        failure = str(exc)
    judge(churn, where, point.warmup_cycles, point.clients)
    total = RepeatCounts.total(totals)
    assert isinstance(total, RepeatCounts)  # total() builds its own class
    return Repeat(
        repeat=repeat,
        status="failed" if failure else "ok",
        reason=failure,
        counts=total,
        loss_ratio=total.lost / total.expected if total.expected else 0.0,
        interrupted=interrupted,
        churn=churn,
        hosts=hosts,
    )
