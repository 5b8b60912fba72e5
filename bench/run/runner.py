"""One run: every point of a scenario, repeat by repeat, each against a fresh server.

For each repeat: ready its services (Redis flushed, the messages table emptied), start
the server, wait for a websocket handshake, start the monitor and the client pool, let
the clients connect, start the phases on one shared clock, merge the workers' books into
the result model, stop everything by PID. The result file is rewritten atomically after
every repeat, so Ctrl-C, an error or a crash keeps what was measured.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from functools import partial
from typing import Any

from bench.deploy.environments import build_all
from bench.deploy.servers import ServerProcess
from bench.deploy.services import services_for
from bench.errors import ExitCode, PointFailed, ServerError, UserError
from bench.loadgen.link import CONNECT, CONNECTED, RESULT, START, Connected, WorkerProgress
from bench.loadgen.pool import (
    START_DELAY_S,
    connect_budget_s,
    open_pool,
    plan_neighbours,
    plan_workers,
    result_budget_s,
)
from bench.protocols import DEFAULT_PROTOCOL, import_paths
from bench.redact import redact
from bench.results import environment, store
from bench.results.model import (
    Calibration,
    DatabaseTally,
    NeighbourSummary,
    PointResult,
    Repeat,
    Tool,
    WorkerResult,
    load_shape,
)
from bench.run.churn import measure_churn, where_for
from bench.run.context import RunContext, new_server, server_died
from bench.run.drops import DropCounter, drops_dir
from bench.run.flags import client_warnings
from bench.run.memory_profiling import check_memory
from bench.run.monitor import ProcessMonitor
from bench.run.order import measuring_order, steps
from bench.run.preflight import check_layers, check_limits
from bench.run.profiling import profiler_for
from bench.run.progress import Heartbeat, Progress, RunDisplay, summary_line
from bench.run.routes import ready_route, system_name, url_template
from bench.run.search import SaturationSearch
from bench.run.soak import measure_soak
from bench.run.staircase import measure_staircase
from bench.scenario import KEYS, Point


def measure(
    ctx: RunContext,
    point: Point,
    label: str,
    repeat: int,
    reference: bool = False,
    into: PointResult | None = None,
) -> Repeat:
    """Measure one repeat of ``point``; raise ``PointFailed`` with the reason.

    ``into``, the point's record, gets the software its server ran the first time."""
    started_at = time.time()
    if not reference and point.env in ctx.env_errors:
        raise PointFailed(ctx.env_errors[point.env])
    with ExitStack() as stack:
        beat = stack.enter_context(Heartbeat(ctx.out, label))
        server: ServerProcess | None = None
        roots: dict[str, int] = {}
        profiler = stack.enter_context(
            profiler_for(point, reference, ctx.log_dir.parent, ctx.path.parent, label, repeat)
        )
        ready_s = None
        db = None if reference else ctx.services.database(point)
        if not reference:
            ctx.services.prepare(point)
            roots.update(ctx.services.roots(point))
        counted = not (reference or ctx.target or ctx.scenario.site)  # our site only
        stem = f"{store.file_stem(label)}-r{repeat}"
        drops = DropCounter(drops_dir(ctx.log_dir, stem, point) if counted else None)
        if not ctx.target:
            server = new_server(ctx, point, label, repeat, reference, drops.directory)
            profiler.launch(server)  # memory: the server's command under memray
            stack.callback(server.stop)
        port = server.port if server else None

        def url_for(p: Point) -> tuple[str, str]:  # the clients' URL and Origin header
            return url_template(ctx.scenario, ctx.target, p, ctx.listen.host, port)

        template, origin_header = url_for(point)
        paths = import_paths(ctx.scenario.path)
        plans = plan_workers(point, template, origin_header, repeat, paths, ctx.cluster)
        neighbours = [] if reference else plan_neighbours(point, url_for, len(plans), repeat)
        # The client processes start (import, spawn) while the server does; they are
        # stopped first, before the server. A churn point starts a pool per cycle.
        pool = (
            None if point.churn else stack.enter_context(open_pool(plans + neighbours, ctx.cluster))
        )
        if server is not None:
            server.start()
            try:
                path, headers = (None, None) if reference else ready_route(ctx.scenario, point)
                ready_s = round(server.wait_ready(point.route, path=path, headers=headers), 3)
            except ServerError as exc:
                raise PointFailed(str(exc)) from None
            roots["server"] = server.pid
            if into is not None and into.software is None and not reference:
                into.software = server.software()
                into.server_command = [redact(part) for part in server.argv()]
        elif ctx.server_pid:
            roots["server"] = ctx.server_pid

        def edge(name: str) -> None:  # of the measured window
            drops.edge(name)  # first: the clients start at the window's edge too
            monitor.mark(name)
            profiler.edge(name, roots.get("server"))

        def check() -> None:
            if server is not None and not server.alive():
                raise server_died(server)

        if pool is None:  # churn: cycles against this one server (bench/run/churn.py)
            redis_url = ctx.services.redis_url(point)
            where = where_for(point, roots.get("server"), port, redis_url, ctx.listen.host)
            mark = partial(profiler.edge, root=roots.get("server"))  # the churn, whole
            mark("start")
            drive = measure_soak if point.sample_s else measure_churn  # or a staircase:
            drive = measure_staircase if point.idle_max else drive
            record = drive(point, repeat, plans, where, beat, check, ctx.cluster, mark)
            mark("end")
            if profiler.needs_exit and server is not None:
                server.stop()  # memray's capture is whole when the server has exited
            beat.doing = "reading the profile"  # memray's capture: seconds per cycle
            profiler.finish(record)
            record.started_at, record.ready_s = started_at, ready_s
            beat.stop()
            return record
        monitor = ProcessMonitor(
            roots, point.monitor_hz, clients=pool.pids(), server_port=port if server else None
        )
        monitor.start()
        stack.callback(monitor.stop)
        beat.doing = f"connecting {point.clients} clients"
        pool.broadcast(CONNECT)
        connect_budget = connect_budget_s(point, point.clients)
        connected = Connected.total(pool.gather(CONNECTED, connect_budget, check=check))
        if not connected.connected:
            url = template.format(room=0)
            raise PointFailed(f"no client could connect to {url}: {connected.why()}")
        t0_ns = time.monotonic_ns() + int(START_DELAY_S * 1e9)
        total_s = point.warmup_s + point.duration_s
        progress = Progress(ctx.out, label, total_s, t0_ns, len(plans), ctx.display)

        def on_progress(worker: int, value: WorkerProgress) -> None:
            if worker < len(plans):  # the measured clients only
                progress.update(worker, value)
                beat.doing = progress.status

        pool.broadcast(START, t0_ns)
        _call_at(t0_ns + int(point.warmup_s * 1e9), lambda: edge("start"))
        _call_at(t0_ns + int(total_s * 1e9), lambda: edge("end"))
        budget = result_budget_s(point)
        results = [
            WorkerResult.from_json(r) for r in pool.gather(RESULT, budget, on_progress, check)
        ]
        record = Repeat.from_workers(
            repeat,
            results[: len(plans)],
            clients=point.clients,
            duration_s=point.duration_s,
            compression=point.compression,
        )
        if neighbours:
            record.neighbour = NeighbourSummary.of(
                point.neighbour,
                Repeat.from_workers(
                    repeat,
                    results[len(plans) :],
                    clients=point.neighbour_clients,
                    duration_s=point.duration_s,
                ),
            )
        record.started_at = started_at
        record.ready_s = ready_s
        if server is not None:
            record.server_log = str(server.log_path.relative_to(ctx.path.parent))
        record.delivery_series = progress.series
        record.layer_drops = drops.finish()
        monitor.stop()
        if "server" in roots:
            record.server = monitor.summary("server")
        record.services = {role: monitor.summary(role) for role in roots if role != "server"}
        record.machine = monitor.machine()
        if db is not None:
            writers = (results[: len(plans)] if point.writes else []) + (
                results[len(plans) :] if point.neighbours_write else []
            )
            sent = sum(r.counts.sent for r in writers)
            record.database = DatabaseTally(db.kind, db.rows(), sent)
        calibration = ctx.run.calibration_for(point)
        ceiling = calibration.deliveries_per_s if calibration else None
        if ceiling and not reference and record.throughput is not None:
            record.ceiling_fraction = record.throughput.delivered_per_s / ceiling
        record.warnings = client_warnings(record)
        pool.describe(record, results[: len(plans)], calibration)
        profiler.finish(record)
        check()
        if not reference:
            ctx.services.check(point)
        beat.stop()
        progress.done(summary_line(record))
    return record


def _call_at(deadline_ns: int, fn: Callable[[], Any]) -> None:
    """Call ``fn`` in a timer thread at ``deadline_ns`` on the monotonic clock."""
    timer = threading.Timer(max(0.0, (deadline_ns - time.monotonic_ns()) / 1e9), fn)
    timer.daemon = True
    timer.start()


def calibration_point(point: Point) -> Point:
    """The steady load whose ceiling ``point``'s clients are held to: its clients and
    rooms, closed loop, in the chat's protocol; no churn, staircase or soak, unprofiled."""
    return replace(
        point,
        protocol=DEFAULT_PROTOCOL,
        consumer="async",
        fault="none",
        mode="closed",
        cycles=0,
        messages=0,
        idle_max=0,
        reconnect_per_s=0.0,
        sample_s=0.0,
        profile="none",
        repeats=1,
        warmup_s=min(point.warmup_s, 1.0),
        duration_s=min(point.duration_s, 3.0),
    )


def calibrate(ctx: RunContext, point: Point) -> Calibration:
    """The load generator's ceiling: the same clients against the reference server, in
    the chat's protocol (the one it speaks: it broadcasts each frame to the room)."""
    calib_point = calibration_point(point)
    check_limits("calibration", [calib_point], cluster=ctx.cluster)
    record = measure(ctx, calib_point, f"calibration clients={point.clients}", 0, reference=True)
    assert record.throughput is not None and record.clients is not None
    return Calibration(
        server="reference (picows on uvloop, no Django)",
        point=calib_point,
        deliveries_per_s=record.throughput.delivered_per_s,
        sent_per_s=record.throughput.sent_per_s,
        latency_ms=record.latency_ms,
        client_cpu_percent=record.clients.cpu_percent,
        server_cpu_mean_percent=record.server.cpu_mean_percent if record.server else None,
        hosts=record.hosts,
    )


def _calibrate_each_shape(ctx: RunContext, points: list[Point]) -> None:
    """The load generator's ceiling for each distinct shape of load among ``points``."""
    shapes = {load_shape(p): p for p in points}
    for point in shapes.values():
        ctx.out.write(
            f"chanbench: calibrating the load generator ({point.clients} clients, "
            f"{point.room_count} rooms, reference server)\n"
        )
        try:
            calibration = calibrate(ctx, point)
        except PointFailed as exc:
            calibration = Calibration(point=point, error=str(exc))
        ctx.run.calibrations.append(calibration)
        store.write(ctx.path, ctx.run)


def run(ctx: RunContext, calibrate_first: bool = True) -> int:
    """Run the scenario; write the result file as it goes; return the exit code."""
    scenario = ctx.scenario
    points = scenario.points()
    check_limits(scenario.path or scenario.name, points, ctx.target is not None, ctx.cluster)
    if not ctx.target:
        check_memory(points)
        check_layers(
            {p.layer: scenario.layers[p.layer] for p in points if p.layer in scenario.layers}
        )
    ctx.out.write(
        f"chanbench: {scenario.name}: {len(points)} points "
        f"x {max(p.repeats for p in points)} repeats -> {ctx.path}\n"
    )
    ctx.out.flush()
    result = ctx.run
    result.tool = Tool(version=_version())
    result.environment = environment.collect()
    result.scenario = scenario
    result.target = ctx.target.shown if ctx.target else None
    result.command = ctx.command
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    exit_code: int = ExitCode.OK
    finished = False
    try:
        with ExitStack() as stack:
            if not ctx.target:
                ctx.envs, ctx.env_errors = build_all(points, scenario.envs, ctx.log_dir, ctx.out)
                ctx.services = stack.enter_context(
                    services_for(
                        points, scenario.layers, ctx.redis_url, ctx.database_url, ctx.log_dir
                    )
                )
                ctx.services.record_versions(result.environment)
            if calibrate_first and not ctx.target:
                _calibrate_each_shape(ctx, points)
            repeats = {p.label(scenario.varying()): p.repeats for p in points}
            with RunDisplay(ctx.out, repeats) as ctx.display:
                exit_code = _run_points(ctx, points)
            finished = True
    except KeyboardInterrupt:
        saved = "the points measured so far are saved"
        if not result.points:  # e.g. during calibration
            saved = "no point was measured yet, so no result file is written"
        ctx.out.write(f"\nchanbench: interrupted; {saved}\n")
        exit_code = ExitCode.INTERRUPTED
    except UserError as exc:
        result.error = str(exc)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        result.partial = not finished
        result.finished_at = time.time()
        # A run that failed before measuring a point leaves no result file behind (a
        # calibration alone, written as it went, is no result: nothing could read it).
        if result.points:
            store.write(ctx.path, result)
        else:
            ctx.path.unlink(missing_ok=True)
    return exit_code


def _run_points(ctx: RunContext, points: list[Point]) -> int:
    """Every step in turn; in a step, repeats interleaved across its points."""
    scenario, result = ctx.scenario, ctx.run
    varying = scenario.varying()
    search = SaturationSearch(scenario.search, varying) if scenario.search else None
    display = ctx.display or RunDisplay(ctx.out, {})  # plain lines without one
    failed = False
    for step in steps(search.order(points) if search else points):
        records = [
            (
                point,
                PointResult(
                    id=point.label(sorted(KEYS)),
                    label=point.label(varying, system_name(scenario, ctx.target is not None)),
                    point=point,
                ),
            )
            for point in step
            if search is None or not search.skips(point)
        ]
        for point in step:  # out of the run's totals
            if search is not None and search.skips(point):
                display.skip(point.label(varying))
        for repeat in range(max((p.repeats for p, _ in records), default=0)):
            for point, rec in measuring_order(records, repeat):
                if repeat >= point.repeats:
                    continue
                try:
                    rec.repeats.append(measure(ctx, point, rec.label, repeat, into=rec))
                    failed = failed or not rec.repeats[-1].ok  # churn keeps a failure's cycles
                except PointFailed as exc:
                    failed = True
                    display.repeat_done(rec.label, f"FAILED: {exc}")
                    rec.repeats.append(Repeat.failed(repeat, str(exc)))
                if rec not in result.points:
                    result.points.append(rec)
                store.write(ctx.path, result)
                if rec.repeats[-1].interrupted:
                    raise KeyboardInterrupt
        if search is not None:
            for point, rec in records:
                search.record(point, rec)
            result.saturation = search.outcome()
    return ExitCode.POINT_FAILED if failed else ExitCode.OK


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _version() -> str:
    from bench import __version__

    return __version__
