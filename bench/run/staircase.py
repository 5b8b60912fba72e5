"""The staircase of idle connections: hold 0, then more and more idle websockets in one
server, and read what each step costs it: memory (the churn counters) and idle CPU.

Each step adds a client pool (``loadgen.pool``) that connects its share and then sends
nothing, held open until the staircase ends; the pools of every step stay up together.
Each step records its connect rate and its handshake times' percentiles (p50, p90, p99,
max), from the workers' connect reports. After a step connects, the server settles, its
counters are read (``churn.read_counters``) and its CPU is read over ``idle_hold_s``
(Daphne's checkers walk every connection each second: idle is not free). The memory per
idle connection is the Theil-Sen slope of RSS against the connections held, with the
same bootstrap interval as churn's verdicts. A step that cannot connect every client
ends the staircase there, and the result says why.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from contextlib import ExitStack

from bench.deploy.processes import process_tree
from bench.errors import PointFailed
from bench.judge import stats
from bench.judge.leaks import slope_interval, theil_sen
from bench.loadgen import WorkerPlan
from bench.loadgen.link import CONNECT, CONNECTED, Connected
from bench.loadgen.pool import Placement, connect_budget_s, open_pool, plan_workers
from bench.results.churn import Staircase, Step
from bench.results.model import Repeat
from bench.run.churn import Where, read_counters, settle
from bench.run.progress import Heartbeat
from bench.run.readings import read_stat
from bench.scenario import Point


def tree_cpu_s(pid: int | None) -> float | None:
    """CPU seconds of the server's whole tree so far."""
    if pid is None:
        return None
    stats = [s for s in map(read_stat, process_tree(pid)) if s is not None]
    return sum(s.cpu_s for s in stats) if stats else None


def connect_step(
    stack: ExitStack,
    point: Point,
    plans: list[WorkerPlan],
    add: int,
    seed: int,
    check: Callable[[], None],
    placement: Placement | None = None,
) -> Connected:
    """Open ``add`` more idle clients in a pool of their own (local processes, or on the
    run's ``placement``), held until ``stack`` closes."""
    shape = dataclasses.replace(point, clients=add, messages=0)
    first = plans[0]
    step_plans = plan_workers(
        shape, first.url_template, first.origin, seed, first.protocol_paths, placement
    )
    pool = stack.enter_context(open_pool(step_plans, placement))
    pool.broadcast(CONNECT)
    return Connected.total(pool.gather(CONNECTED, connect_budget_s(point, add), check=check))


def measure_staircase(
    point: Point,
    repeat: int,
    plans: list[WorkerPlan],
    where: Where,
    beat: Heartbeat,
    check: Callable[[], None],
    placement: Placement | None = None,
    mark: Callable[[str], None] = lambda name: None,
) -> Repeat:
    """Every step of the staircase against one running server; ``mark("step")`` as each
    step's counters are read (as churn's cycles: a profile's edges)."""
    settle_s, _ = settle(point)
    record = Staircase(unavailable=where.unavailable)
    interrupted = False
    held = 0
    with ExitStack() as stack:
        try:
            for target in point.idle_counts:
                beat.doing = f"idle connections: {held} -> {target}"
                started = time.monotonic()
                step = Step(connections=held)
                if target > held:
                    got = connect_step(stack, point, plans, target - held, repeat, check, placement)
                    held += got.connected
                    step.connections = held
                    step.connect_failures = got.failures
                    step.connect_s = round(time.monotonic() - started, 3)
                    step.connects_per_s = round(got.connected / step.connect_s, 1)
                    step.connect_ms = stats.connect_summary_ms(got.connect_ms)
                    if got.failures:
                        record.stopped = f"at {held} of {target}: {got.why()}"
                time.sleep(settle_s)
                check()
                step.counters = read_counters(where)
                mark("step")
                before = tree_cpu_s(where.pid)
                time.sleep(point.idle_hold_s)
                after = tree_cpu_s(where.pid)
                if before is not None and after is not None:
                    step.idle_cpu_percent = round(100 * (after - before) / point.idle_hold_s, 1)
                record.steps.append(step)
                if record.stopped:
                    break
        except KeyboardInterrupt:
            interrupted = True
        except PointFailed as exc:
            record.stopped = str(exc)
    fit = [
        (s.connections, s.counters["rss_bytes"]) for s in record.steps if "rss_bytes" in s.counters
    ]
    if len({n for n, _ in fit}) >= 2 and "rss_bytes" not in where.unavailable:
        x = [float(n) for n, _ in fit]
        y = [float(v) for _, v in fit]
        record.rss_per_connection = theil_sen(x, y)
        record.ci_low, record.ci_high = slope_interval(x, y)
    return Repeat(repeat=repeat, interrupted=interrupted, staircase=record)
