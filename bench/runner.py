"""One run: every point of a scenario, each repeat against a fresh server.

For each repeat: start the server (and flush the private Redis), wait for a websocket
handshake, start the monitor, start the client workers, let them connect, start the
phases on one shared clock, collect, stop everything by PID. The result file is rewritten
atomically after every repeat, so Ctrl-C, an error or a crash keeps what was measured.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, TextIO

from bench import environment, redis_server, stats, store
from bench.errors import ServerError, UserError
from bench.loadgen import CONNECT_TIMEOUT_S, WorkerPlan, worker_main
from bench.monitor import ProcessMonitor
from bench.processes import free_port, last_line, raise_open_file_limit
from bench.scenario import Point, Scenario
from bench.server import (
    FAULT_CONSUMERS,
    DaphneServer,
    ReferenceServer,
    ServerProcess,
    ServerSettings,
    origin,
    ws_url,
)

HOST = "127.0.0.1"
# One picows client process receives 36k-48k messages/s on this kind of machine; 5,000
# clients per process keeps connection bookkeeping well inside that.
CLIENTS_PER_PROCESS = 5000
# A worker process starts (imports uvloop, picows, numpy) in well under 2 s.
WORKER_START_TIMEOUT_S = 20.0
# The clients start their phases this long after the last one connected, on one clock.
START_DELAY_S = 0.3
# A client process above this share of one core describes the client, not the server.
CLIENT_SATURATED_CPU = 0.90
CLIENT_LAG_WARN_MS = 100.0
# Past this share of the calibrated ceiling, the client may be what limits the rate.
CEILING_WARN_FRACTION = 0.8
EXIT_POINT_FAILED = 3
# Open files a process needs besides its clients' sockets: Daphne starts with about 12,
# a client process with about 17 (Python, uvloop, numpy, its pipe); four times that.
OPEN_FILES_MARGIN = 64
# Daphne closes a websocket whose message is over 1 MiB (its --websocket-max-message-size
# default) with code 1009; a chat message wraps the padding in under 100 bytes of JSON.
DAPHNE_MAX_MESSAGE_BYTES = 1024 * 1024
MESSAGE_ENVELOPE_BYTES = 128


class PointFailed(Exception):
    """A repeat could not be measured; the reason is recorded and the run goes on."""


@dataclass
class RunContext:
    scenario: Scenario
    path: Path
    log_dir: Path
    out: TextIO
    target: str | None = None
    server_pid: int | None = None
    redis_url: str | None = None
    result: dict[str, Any] = field(default_factory=dict)


def _url_template(ctx: RunContext, point: Point, port: int | None) -> tuple[str, str]:
    """The clients' URL with ``{room}`` left in, and the Origin header to send."""
    if ctx.target:
        base = ctx.target.rstrip("/")
        template = base if "{room}" in base else f"{base}/ws/{point.consumer}/chat/{{room}}/"
        host_port = base.split("//", 1)[-1].split("/", 1)[0]
        return template, f"http://{host_port}"
    assert port is not None
    return ws_url(HOST, port, point.consumer, "{room}"), origin(HOST, port)


def plan_workers(point: Point, template: str, origin_header: str, seed: int) -> list[WorkerPlan]:
    """Split the clients over worker processes: rooms round-robin over clients, and whole
    rooms per worker where there are enough rooms (fewer cross-process rooms)."""
    processes = point.client_processes or math.ceil(point.clients / CLIENTS_PER_PROCESS)
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
            total_clients=point.clients,
            url_template=template,
            origin=origin_header,
            mode=point.mode,
            rate=point.rate,
            arrival=point.arrival,
            message_bytes=point.message_bytes,
            warmup_s=point.warmup_s,
            duration_s=point.duration_s,
            drain_quiet_s=point.drain_quiet_s,
            drain_max_s=point.drain_max_s,
            connect_rate=point.connect_rate / processes if point.connect_rate else 0.0,
            seed=seed,
            compression=point.compression,
        )
        for w, share in enumerate(shares)
        if share
    ]


class Workers:
    """The client worker processes of one repeat, stopped by PID however it ends."""

    def __init__(self, plans: list[WorkerPlan]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs = []
        for plan in plans:
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=worker_main,
                args=(plan, child),
                daemon=True,
                name=f"chanbench-client-{plan.worker}",
            )
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def broadcast(self, message: tuple[str, Any]) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError, BrokenPipeError):
                conn.send(message)

    def messages(
        self, timeout_s: float, pending: list[int] | None = None
    ) -> Iterator[tuple[int, str, Any]]:
        """(worker, kind, value) as they arrive, until ``timeout_s`` passes with none.

        Only the ``pending`` workers are listened to: one that has sent what was asked
        may exit, and its closed pipe must not read as a death.
        """
        indices = range(len(self.conns)) if pending is None else pending
        ready = wait([self.conns[i] for i in indices], timeout_s)
        for conn in ready:
            assert isinstance(conn, Connection)
            index = self.conns.index(conn)
            try:
                kind, value = conn.recv()
            except (EOFError, OSError):
                proc = self.procs[index]
                proc.join(1.0)  # reap it, for its exit code
                kind, value = "died", f"pid {proc.pid} {_exit_description(proc.exitcode)}"
            yield index, kind, value

    def stop(self) -> None:
        self.broadcast(("stop", None))
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


def _gather(
    workers: Workers,
    kind_wanted: str,
    timeout_s: float,
    on_progress: Any = None,
    server: ServerProcess | None = None,
    ctx: RunContext | None = None,
) -> list[Any]:
    """Wait for one ``kind_wanted`` message from every worker, within ``timeout_s``."""
    got: dict[int, Any] = {}
    deadline = time.monotonic() + timeout_s
    while len(got) < len(workers.conns):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PointFailed(f"client processes sent no {kind_wanted!r} within {timeout_s:.0f} s")
        if server is not None and not server.alive():
            raise _server_died(server)
        pending = [i for i in range(len(workers.conns)) if i not in got]
        for index, kind, value in workers.messages(min(remaining, 0.25), pending):
            if kind == kind_wanted:
                got[index] = value
            elif kind == "progress" and on_progress is not None:
                on_progress(index, value)
            elif kind in ("error", "died"):
                raise PointFailed(f"client process {index}: {value}")
    return [got[i] for i in range(len(workers.conns))]


def _exit_description(code: int | None) -> str:
    """``exited with code 1``, ``was killed by SIGKILL``, or ``exited`` (code unknown)."""
    if code is None:
        return "exited"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _server_died(server: ServerProcess) -> PointFailed:
    code = server.proc.returncode if server.proc is not None else None
    return PointFailed(
        f"{server.name} (pid {server.pid}) {_exit_description(code)} during "
        f"the point; its log ends: {last_line(server.log_path)}"
    )


class Progress:
    """A live line per repeat: elapsed share of the phases, rates and recent p99."""

    def __init__(self, out: TextIO, label: str, point: Point, t0_ns: int, n_workers: int) -> None:
        self.out = out
        self.label = label
        self.total_s = point.warmup_s + point.duration_s
        self.t0_ns = t0_ns
        self.last: dict[int, dict[str, Any]] = {}
        self.prev: tuple[float, int, int] | None = None
        self.series: dict[str, list[float]] = {"t_s": [], "delivered_per_s": [], "sent_per_s": []}
        self.tty = out.isatty()
        self.n_workers = n_workers

    def update(self, worker: int, value: dict[str, Any]) -> None:
        self.last[worker] = value
        if len(self.last) < self.n_workers:
            return
        now = time.monotonic()
        sent = sum(v["sent"] for v in self.last.values())
        received = sum(v["received"] for v in self.last.values())
        p99s = [v["p99_ms"] for v in self.last.values() if v["p99_ms"] is not None]
        if self.prev is not None and now - self.prev[0] >= 0.4:
            dt = now - self.prev[0]
            sent_rate, recv_rate = (sent - self.prev[1]) / dt, (received - self.prev[2]) / dt
            elapsed = (time.monotonic_ns() - self.t0_ns) / 1e9
            self.series["t_s"].append(round(elapsed, 2))
            self.series["sent_per_s"].append(round(sent_rate, 1))
            self.series["delivered_per_s"].append(round(recv_rate, 1))
            if self.tty:
                share = max(0.0, min(1.0, elapsed / self.total_s)) if self.total_s else 1.0
                bar = "#" * int(share * 20)
                p99 = f"{max(p99s):8.1f} ms" if p99s else "       - ms"
                self.out.write(
                    f"\r  {self.label:<40} [{bar:<20}] {share:4.0%}  "
                    f"sent {sent_rate:8,.0f}/s  delivered {recv_rate:9,.0f}/s  "
                    f"p99 {p99}"
                )
                self.out.flush()
            self.prev = (now, sent, received)
        elif self.prev is None:
            self.prev = (now, sent, received)

    def done(self, line: str) -> None:
        if self.tty:
            self.out.write("\r\033[K")
        self.out.write(f"  {self.label:<40} {line}\n")
        self.out.flush()


def merge_workers(point: Point, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts, throughput and latency of one repeat from its workers' raw results."""
    rooms: dict[int, list[int]] = {}
    for res in results:
        for room, (members, sent, delivered) in res["rooms"].items():
            acc = rooms.setdefault(int(room), [0, 0, 0])
            acc[0] += members
            acc[1] += sent
            acc[2] += delivered
    expected = sum(members * sent for members, sent, _ in rooms.values())
    delivered = sum(r["delivered"] for r in results)
    total = {
        key: sum(r[key] for r in results)
        for key in (
            "connected",
            "compressed",
            "connect_failures",
            "sent",
            "sent_measured",
            "duplicated",
            "out_of_order",
            "malformed",
            "disconnected",
            "closed_loop_timeouts",
            "received_in_window",
        )
    }
    measured_s = max((r["measured_s"] for r in results), default=0.0) or point.duration_s
    hist = stats.merge_histograms(r["latency_histogram"] for r in results)
    connect_ms = [ms for r in results for ms in r["connect_ms"]]
    connect_errors: dict[str, int] = {}
    for r in results:
        for name, count in r["connect_errors"].items():
            connect_errors[name] = connect_errors.get(name, 0) + count
    counts = {
        "clients": point.clients,
        "rooms": len(rooms),
        **total,
        "expected": expected,
        "delivered": delivered,
        "lost": max(0, expected - delivered),
    }
    return {
        "counts": counts,
        "loss_ratio": (counts["lost"] / expected) if expected else 0.0,
        "throughput": {
            "sent_per_s": total["sent_measured"] / measured_s,
            "delivered_per_s": total["received_in_window"] / measured_s,
            "measured_s": measured_s,
        },
        "latency_ms": stats.latency_summary_ms(hist),
        "latency_histogram": hist.encode().decode("ascii"),
        "connect_ms": {**stats.percentiles(connect_ms), "max": max(connect_ms, default=None)},
        "connect_errors": connect_errors,
        "clients": {
            "processes": len(results),
            "cpu_percent": [
                round(100 * r["cpu_s"] / (r["measured_s"] or measured_s), 1) for r in results
            ],
            "max_loop_lag_ms": max((r["max_loop_lag_ms"] for r in results), default=0.0),
            "drain_s": max((r["drain_s"] for r in results), default=0.0),
        },
        "interrupted": any(r["interrupted"] for r in results),
        "compression_offered": point.compression,
    }


def client_warnings(repeat: dict[str, Any]) -> list[str]:
    """Flags that say the numbers describe the load generator, not the server."""
    out = []
    clients = repeat["clients"]
    busiest = max(clients["cpu_percent"], default=0.0)
    server_cpu = (repeat.get("server") or {}).get("cpu_mean_percent")
    # Near a full core, or busier than the server it drives while using half a core or
    # more (on a shared 2-core machine neither side may get a full core).
    busier_than_server = server_cpu is not None and busiest >= max(server_cpu, 50.0)
    if busiest >= 100 * CLIENT_SATURATED_CPU or busier_than_server:
        server_note = f" (the server used {server_cpu:.0f}%)" if server_cpu is not None else ""
        out.append(
            f"client saturated: a client process used {busiest:.0f}% of a core"
            f"{server_note}; these numbers describe the load generator, not the server "
            "(use more client_processes or fewer clients)"
        )
    fraction = repeat.get("ceiling_fraction")
    if fraction is not None and fraction >= CEILING_WARN_FRACTION:
        out.append(
            f"throughput is {fraction:.0%} of the load generator's ceiling: "
            "the client may be the limit"
        )
    if clients["max_loop_lag_ms"] >= CLIENT_LAG_WARN_MS:
        out.append(
            f"client event loop lagged {clients['max_loop_lag_ms']:.0f} ms; "
            "open-loop send times may have slipped"
        )
    counts = repeat["counts"]
    if repeat.get("compression_offered") and counts["compressed"] < counts["connected"]:
        out.append(
            f"compression offered, but only {counts['compressed']} of {counts['connected']} "
            "connections negotiated permessage-deflate (Daphne declines it): frames went "
            "uncompressed"
        )
    if counts["connect_failures"]:
        out.append(
            f"{counts['connect_failures']} of {counts['clients']} clients failed to "
            f"connect: {repeat['connect_errors']}"
        )
    if counts["lost"]:
        out.append(
            f"{counts['lost']} of {counts['expected']} broadcasts lost ({repeat['loss_ratio']:.2%})"
        )
    if counts["malformed"] or counts["disconnected"]:
        out.append(
            f"{counts['malformed']} malformed frames, {counts['disconnected']} clients "
            "disconnected by the server"
        )
    return out


def _server_for(ctx: RunContext, point: Point, port: int, log_path: Path) -> ServerProcess:
    settings = ServerSettings(
        layer=point.layer,
        capacity=point.capacity,
        asgi_threads=point.asgi_threads or None,
        redis_url=ctx.redis_url,
        fault_consumers=point.consumer in FAULT_CONSUMERS,
    )
    return DaphneServer(settings, HOST, port, log_path)


def measure(
    ctx: RunContext, point: Point, label: str, repeat: int, reference: bool = False
) -> dict[str, Any]:
    """Measure one repeat of ``point``; raise ``PointFailed`` with the reason."""
    record: dict[str, Any] = {
        "repeat": repeat,
        "status": "ok",
        "reason": None,
        "started_at": time.time(),
    }
    with ExitStack() as stack:
        server: ServerProcess | None = None
        port = None
        pid = ctx.server_pid
        if not ctx.target:
            port = free_port(HOST)
            safe = label.replace(" ", "_").replace("=", "-")
            log_path = ctx.log_dir / f"{safe}-r{repeat}.log"
            if reference:
                server = ReferenceServer(HOST, port, log_path)
            else:
                if point.layer != "memory":
                    assert ctx.redis_url is not None
                    try:
                        redis_server.flush(ctx.redis_url)
                    except ServerError as exc:
                        raise PointFailed(str(exc)) from None
                server = _server_for(ctx, point, port, log_path)
            stack.enter_context(server)
            record["server_log"] = str(log_path.relative_to(ctx.path.parent))
            try:
                record["ready_s"] = round(server.wait_ready(point.consumer), 3)
            except ServerError as exc:
                raise PointFailed(str(exc)) from None
            pid = server.pid
        monitor = ProcessMonitor(pid, point.monitor_hz) if pid else None
        if monitor is not None:
            monitor.start()
            stack.callback(monitor.stop)
        template, origin_header = _url_template(ctx, point, port)
        workers = Workers(plan_workers(point, template, origin_header, seed=repeat))
        stack.callback(workers.stop)
        connect_budget = WORKER_START_TIMEOUT_S + CONNECT_TIMEOUT_S * 2
        if point.connect_rate:
            connect_budget += point.clients / point.connect_rate
        connected = _gather(workers, "connected", connect_budget, server=server, ctx=ctx)
        if not sum(c["connected"] for c in connected):
            errors: dict[str, int] = {}
            for c in connected:
                for k, v in c["errors"].items():
                    errors[k] = errors.get(k, 0) + v
            why = ", ".join(f"{count} x {name}" for name, count in errors.items())
            raise PointFailed(f"no client could connect to {template.format(room=0)}: {why}")
        t0_ns = time.monotonic_ns() + int(START_DELAY_S * 1e9)
        progress = Progress(ctx.out, label, point, t0_ns, len(workers.conns))
        workers.broadcast(("start", t0_ns))
        if monitor is not None:
            _call_at(t0_ns + int(point.warmup_s * 1e9), lambda: monitor.mark("start"))
            _call_at(
                t0_ns + int((point.warmup_s + point.duration_s) * 1e9), lambda: monitor.mark("end")
            )
        budget = START_DELAY_S + point.warmup_s + point.duration_s + point.drain_max_s + 30
        results = _gather(workers, "result", budget, progress.update, server, ctx)
        record.update(merge_workers(point, results))
        record["delivery_series"] = progress.series
        if monitor is not None:
            monitor.stop()
            record["server"] = {"pid": pid, **monitor.summary(), "series": vars(monitor.series)}
        ceiling = (ctx.result.get("calibration") or {}).get("deliveries_per_s")
        if ceiling and not reference:
            record["ceiling_fraction"] = record["throughput"]["delivered_per_s"] / ceiling
        record["warnings"] = client_warnings(record)
        if server is not None and not server.alive():
            raise _server_died(server)
        if point.layer != "memory" and ctx.redis_url and not ctx.target and not reference:
            try:
                redis_server.ping(ctx.redis_url)
            except ServerError:
                raise PointFailed(
                    f"Redis at {ctx.redis_url} stopped answering during the "
                    "point; the channel layer lost its messages"
                ) from None
        progress.done(_summary_line(record))
    return record


def _call_at(deadline_ns: int, fn: Any) -> None:
    import threading

    delay = max(0.0, (deadline_ns - time.monotonic_ns()) / 1e9)
    timer = threading.Timer(delay, fn)
    timer.daemon = True
    timer.start()


def _summary_line(record: dict[str, Any]) -> str:
    lat = record["latency_ms"]
    p50 = f"{lat['p50']:.1f}" if lat["p50"] is not None else "-"
    p99 = f"{lat['p99']:.1f}" if lat["p99"] is not None else "-"
    threads = record.get("server", {}).get("threads_max")
    fraction = record.get("ceiling_fraction")
    return (
        f"{record['throughput']['delivered_per_s']:9,.0f} deliveries/s  p50 {p50:>7} ms  "
        f"p99 {p99:>7} ms  lost {record['loss_ratio']:.2%}"
        + (f"  threads {threads}" if threads is not None else "")
        + (f"  {fraction:.0%} of the client's ceiling" if fraction is not None else "")
    )


def calibrate(ctx: RunContext, point: Point) -> dict[str, Any]:
    """The load generator's ceiling: the same clients against the reference server."""
    calib_point = replace(
        point,
        consumer="async",
        mode="closed",
        repeats=1,
        warmup_s=min(point.warmup_s, 1.0),
        duration_s=min(point.duration_s, 3.0),
    )
    check_limits(ctx, [calib_point])
    record = measure(ctx, calib_point, f"calibration clients={point.clients}", 0, reference=True)
    return {
        "server": "reference (picows on uvloop, no Django)",
        "params": calib_point.params(),
        "deliveries_per_s": record["throughput"]["delivered_per_s"],
        "sent_per_s": record["throughput"]["sent_per_s"],
        "latency_ms": record["latency_ms"],
        "client_cpu_percent": record["clients"]["cpu_percent"],
        "server_cpu_mean_percent": record.get("server", {}).get("cpu_mean_percent"),
    }


def _bounds_broken(point_record: dict[str, Any], scenario: Scenario) -> str | None:
    """Why a saturation step broke the bounds (median over repeats), or None."""
    assert scenario.search is not None
    ok = [r for r in point_record["repeats"] if r["status"] == "ok"]
    if not ok:
        return "failed"
    p99 = stats.median([r["latency_ms"]["p99"] for r in ok if r["latency_ms"]["p99"] is not None])
    loss = stats.median([r["loss_ratio"] for r in ok])
    if p99 is None or p99 > scenario.search.p99_ms:
        return f"p99 {p99:.1f} ms > {scenario.search.p99_ms:g} ms" if p99 else "no latency"
    if loss is not None and loss > scenario.search.loss:
        return f"loss {loss:.3%} > {scenario.search.loss:.3%}"
    return None


def run(ctx: RunContext, calibrate_first: bool = True) -> int:
    """Run the scenario; write the result file as it goes; return the exit code."""
    scenario = ctx.scenario
    points = scenario.points()
    varying = scenario.varying()
    check_limits(ctx, points)
    ctx.out.write(
        f"chanbench: {scenario.name}: {len(points)} points "
        f"x {max(p.repeats for p in points)} repeats -> {ctx.path}\n"
    )
    ctx.out.flush()
    result = ctx.result
    result.update(
        {
            "schema_version": store.SCHEMA_VERSION,
            "tool": {"name": "chanbench", "version": _version()},
            "environment": environment.collect(),
            "scenario": scenario.to_dict(),
            "target": ctx.target,
            "partial": True,
            "calibration": None,
            "points": [],
            "saturation": None,
            "command": " ".join(["chanbench", *sys.argv[1:]]) if sys.argv else None,
        }
    )
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    exit_code = 0
    finished = False
    try:
        with ExitStack() as stack:
            if any(p.layer != "memory" for p in points) and not ctx.target:
                ctx.redis_url = stack.enter_context(
                    redis_server.redis_for(ctx.redis_url, ctx.log_dir / "redis.log")
                )
                result["environment"]["redis_server"] = redis_server.server_version(ctx.redis_url)
            if calibrate_first and not ctx.target:
                biggest = max(points, key=lambda p: p.clients)
                ctx.out.write(
                    f"chanbench: calibrating the load generator "
                    f"({biggest.clients} clients, reference server)\n"
                )
                try:
                    result["calibration"] = calibrate(ctx, biggest)
                except PointFailed as exc:
                    result["calibration"] = {"error": str(exc)}
                store.write(ctx.path, result)
            exit_code = _run_points(ctx, points, varying)
            finished = True
    except KeyboardInterrupt:
        ctx.out.write("\nchanbench: interrupted; the points measured so far are saved\n")
        exit_code = 130
    except UserError as exc:
        result["error"] = str(exc)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        result["partial"] = not finished
        result["finished_at"] = time.time()
        # A run that failed before measuring anything leaves no result file behind.
        if result["points"] or ctx.path.exists():
            store.write(ctx.path, result)
    return exit_code


def check_limits(ctx: RunContext, points: list[Point]) -> None:
    """Refuse, before anything starts, a point that this machine or Daphne cannot serve.

    Raises the soft open-file limit to the hard one first (the servers and client
    processes we start inherit it); what is left over must fit every client's socket.
    """
    soft, hard = raise_open_file_limit()
    source = (ctx.scenario.path or ctx.scenario.name) if ctx.scenario is not None else "calibration"
    for point in points:
        biggest_share = max(len(plan.clients) for plan in plan_workers(point, "", "", 0))
        # Daphne holds a socket per client, and a Redis connection per waiting consumer.
        server_files = 0 if ctx.target else point.clients * (1 if point.layer == "memory" else 2)
        needed = max(server_files, biggest_share) + OPEN_FILES_MARGIN
        if needed > soft:
            where = "the server" if server_files >= biggest_share else "a client process"
            raise UserError(
                f"{source}: clients = {point.clients} needs about {needed} open files in "
                f"{where}, but the open-file limit is {soft} (hard limit {hard}); raise the "
                f"hard limit (ulimit -Hn {needed}, as root) or use fewer clients"
            )
        largest = DAPHNE_MAX_MESSAGE_BYTES - MESSAGE_ENVELOPE_BYTES
        if not ctx.target and point.message_bytes > largest:
            raise UserError(
                f"{source}: message_bytes = {point.message_bytes}: Daphne closes websockets "
                f"whose messages are over 1 MiB; use at most {largest}"
            )


def _run_points(ctx: RunContext, points: list[Point], varying: list[str]) -> int:
    """Points in steps (those equal but for the consumer), repeats interleaved in a step."""
    scenario, result = ctx.scenario, ctx.result
    steps: dict[tuple[Any, ...], list[Point]] = {}
    for point in points:
        key = tuple(v for k, v in point.params().items() if k != "consumer")
        steps.setdefault(key, []).append(point)
    # Saturation search: per group (the consumer and every varying key but rate), the
    # highest rate within bounds so far; rates above the first broken one are skipped.
    search: dict[str, dict[str, Any]] = {}
    failed = False
    for step in steps.values():
        records: list[tuple[Point, dict[str, Any], dict[str, Any]]] = []
        for point in step:
            group = point.label([k for k in varying if k != "rate"])
            found = search.setdefault(
                group,
                {
                    "group": group,
                    "consumer": point.consumer,
                    "highest_rate": None,
                    "broken_at": None,
                    "reason": None,
                },
            )
            if scenario.search and found["broken_at"] is not None:
                continue
            records.append(
                (
                    point,
                    found,
                    {
                        "id": point.label(sorted(point.params())),
                        "label": point.label(varying),
                        "params": point.params(),
                        "repeats": [],
                    },
                )
            )
        for repeat in range(max(p.repeats for p, _, _ in records) if records else 0):
            for point, _, rec in records:
                if repeat >= point.repeats:
                    continue
                try:
                    rec["repeats"].append(measure(ctx, point, rec["label"], repeat))
                except PointFailed as exc:
                    failed = True
                    ctx.out.write(f"  {rec['label']:<40} FAILED: {exc}\n")
                    rec["repeats"].append(
                        {"repeat": repeat, "status": "failed", "reason": str(exc)}
                    )
                if rec not in result["points"]:
                    result["points"].append(rec)
                store.write(ctx.path, result)
                if rec["repeats"][-1].get("interrupted"):
                    raise KeyboardInterrupt
        if scenario.search:
            for point, found, rec in records:
                reason = _bounds_broken(rec, scenario)
                rec["search"] = {"within_bounds": reason is None, "reason": reason}
                if reason is None:
                    found["highest_rate"] = point.rate
                else:
                    found["broken_at"], found["reason"] = point.rate, reason
    if scenario.search:
        result["saturation"] = {"bounds": vars(scenario.search), "groups": list(search.values())}
    return EXIT_POINT_FAILED if failed else 0


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _version() -> str:
    from bench import __version__

    return __version__


def check_target(target: str) -> None:
    if not target.startswith(("ws://", "wss://")):
        raise UserError(f"--target {target!r}: give a websocket URL such as ws://127.0.0.1:8000")
