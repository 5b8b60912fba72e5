"""The ``chanbench`` command: one subcommand per job, one handler each.

Expected failures (``UserError``) print one line and exit 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO, cast

from bench import __version__
from bench.deploy.processes import check_port_free
from bench.deploy.servers import SERVERS, server_for
from bench.deploy.site import CONSUMERS, LAYERS, LOOPS, ServerSettings, netloc
from bench.errors import UserError
from bench.redact import RedactingWriter, redact
from bench.report import tables
from bench.results import environment, store
from bench.run import preflight, runner
from bench.scenario import Point
from bench.scenario import load as load_scenario

EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """Options that choose and tune the server's channel layer."""
    group = parser.add_argument_group("server")
    group.add_argument(
        "--server",
        choices=tuple(SERVERS),
        default="daphne",
        help="server kind (default: daphne)",
    )
    group.add_argument(
        "--loop", choices=LOOPS, default="asyncio", help="event loop (default: asyncio)"
    )
    group.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server worker processes sharing the port; rooms span them on a Redis layer",
    )
    group.add_argument(
        "--layer",
        choices=LAYERS,
        default="memory",
        help="channel layer (default: memory, which needs no service)",
    )
    group.add_argument(
        "--capacity",
        type=int,
        default=100,
        help="layer capacity per channel; messages past it are dropped (default 100)",
    )
    group.add_argument(
        "--redis-url",
        default=None,
        help="Redis for the Redis layers (default: $REDIS_URL, else a private one)",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the chat site with Daphne until Ctrl-C, as the tutorial's last step does."""
    import os

    check_port_free(args.host, args.port)
    preflight.check_installed(args.server)
    if args.workers < 1 or (args.workers > 1 and args.layer == "memory"):
        raise UserError(
            f"--workers {args.workers} with --layer {args.layer}: give 1, or several "
            "workers on a Redis layer (--layer redis), where rooms span the workers"
        )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ExitStack() as stack:
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chanbench-serve-")))
        redis_url = args.redis_url or os.environ.get("REDIS_URL")
        if args.layer != "memory":
            from bench.deploy.redis_server import redis_for

            redis_url = stack.enter_context(redis_for(redis_url, log_dir / "redis.log")).url
        point = Point(
            layer=args.layer, capacity=args.capacity, loop=args.loop, workers=args.workers
        )
        settings = ServerSettings(point, redis_url=redis_url)
        server = stack.enter_context(
            server_for(args.server, settings, args.host, args.port, log_dir / f"{args.server}.log")
        )
        server.wait_ready(args.consumer)
        page = f"http://{netloc(args.host, args.port)}/chat/lobby/?consumer={args.consumer}"
        print(
            f"chanbench: serving the chat on {page} ({args.server}, layer {args.layer}; "
            "Ctrl-C stops)",
            flush=True,
        )
        try:
            while not stop.wait(0.5):
                if not server.alive():
                    raise UserError(f"{server.name} exited unexpectedly; see {server.log_path}")
        except KeyboardInterrupt:
            pass
    print("chanbench: stopped", flush=True)
    return 0


DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "quick.toml"


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``run`` and ``calibrate``: the scenario and where results go."""
    parser.add_argument(
        "scenario",
        nargs="?",
        default=str(DEFAULT_SCENARIO),
        help="scenario TOML file (default: scenarios/quick.toml)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="override a matrix key, e.g. clients=10,100",
    )
    parser.add_argument(
        "--env",
        dest="env_options",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="run the server from a checkout (a folder: installed, its consumers/ served) "
        "or an interpreter; repeat it to interleave environments (--env base=../main "
        "--env change=.), which become the env key",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=None, help="where result files go (default: results/)"
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="Redis for the Redis layers (default: $REDIS_URL, else a private one)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL for the orm workloads, a database for chanbench alone: its "
        "chat_message table is emptied before every repeat (default: $DATABASE_URL, "
        "else a private one)",
    )


def _run_context(args: argparse.Namespace) -> runner.RunContext:
    import os

    scenario = load_scenario(args.scenario, args.overrides, args.env_options)
    results_dir = args.results_dir or store.RESULTS_DIR
    target = getattr(args, "target", None)
    path = store.new_path(scenario.run_name(target), environment.git_info()["commit"], results_dir)
    return runner.RunContext(
        scenario=scenario,
        path=path,
        log_dir=run_dir(path) / "logs",
        out=cast(TextIO, RedactingWriter(sys.stdout)),
        target=target,
        server_pid=getattr(args, "server_pid", None),
        redis_url=args.redis_url or os.environ.get("REDIS_URL"),
        database_url=args.database_url or os.environ.get("DATABASE_URL"),
        command=args.command_line,
    )


def run_dir(result_path: Path) -> Path:
    """The folder beside a result file that holds its logs and its report."""
    return result_path.with_suffix("")


def cmd_run(args: argparse.Namespace) -> int:
    """Run a scenario against both consumers; print the table; save the result and,
    beside it, the report."""
    if args.target:
        preflight.check_target(args.target)
    ctx = _run_context(args)
    code = runner.run(ctx, calibrate_first=not args.no_calibrate)
    result = ctx.run
    if result.points:
        print()
        print(tables.run_table(result))
        for line in tables.saturation_lines(result):
            print(line)
        for calibration in result.calibrations:
            if calibration.deliveries_per_s:
                print(
                    f"\nload generator ceiling (reference server, {calibration.point.clients} "
                    f"clients, closed loop): {calibration.deliveries_per_s:,.0f} deliveries/s"
                )
        warnings = [f"{p.label}: {w}" for p in result.points for r in p.repeats for w in r.warnings]
        for line in dict.fromkeys(warnings):
            print(redact(f"warning: {line}"))
    print(f"\nresult: {ctx.path}")
    if result.points and not args.no_report:
        from bench import report

        index = report.write_report(
            [report.Source(ctx.path.stem, result, ctx.path)], run_dir(ctx.path) / "report"
        )
        print(f"report: {index}")
    return code


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Measure the load generator's ceiling against the reference broadcast server."""
    ctx = _run_context(args)
    biggest = max(ctx.scenario.points(), key=lambda p: p.clients)
    calibration = runner.calibrate(ctx, biggest)
    print(
        f"load generator ceiling: {calibration.deliveries_per_s or 0:,.0f} deliveries/s, "
        f"{calibration.sent_per_s or 0:,.0f} sends/s "
        f"({biggest.clients} clients, {biggest.room_count} rooms, "
        f"client CPU {calibration.client_cpu_percent}%)"
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Charts, index.html and README.md from result files (default: the newest)."""
    from bench import report

    paths = [Path(p) for p in args.results] or [store.newest()]
    labels = report.source_labels(paths)
    sources = [
        report.Source(label, store.read(path), path)
        for label, path in zip(labels, paths, strict=True)
    ]
    out_dir = args.output or report.default_out_dir(paths)
    index = report.write_report(sources, out_dir)
    charts = len(list(out_dir.glob("*.png")))
    print(f"report: {index} ({charts} charts, README.md beside it)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare two results point by point; exit 1 on a regression past the threshold."""
    from bench.judge import compare
    from bench.report import comparison as compare_output

    if args.between:
        if args.new is not None:
            raise UserError("--between compares inside one result: give one RESULT.json")
        key, a, b = compare.parse_between(args.between)
        base, new = compare.split_between(store.read(args.base), key, a, b)
        base_path, new_path = f"{args.base} [{key}={a}]", f"{args.base} [{key}={b}]"
    else:
        if args.new is None:
            raise UserError("compare needs BASE.json NEW.json, or one result and --between")
        base, new = store.read(args.base), store.read(args.new)
        base_path, new_path = args.base, args.new
    comparison = compare.compare(
        base,
        new,
        base_path=base_path,
        new_path=new_path,
        threshold=args.threshold,
        fail_threshold=args.fail_threshold,
        loss_threshold=args.loss_threshold,
        force=args.force,
    )
    render = compare_output.format_markdown if args.format == "md" else compare_output.format_text
    print(render(comparison), end="")
    if args.charts:
        names = compare.write_charts(base, new, args.charts)
        print(f"charts: {args.charts} ({len(names)} charts, base and new overlaid)")
    return comparison.exit_code


def add_reading_commands(sub: argparse._SubParsersAction) -> None:
    """``report`` and ``compare``: the commands that read results rather than make them."""
    from bench.judge.compare import DEFAULT_LOSS_THRESHOLD, DEFAULT_THRESHOLD, parse_threshold

    report = sub.add_parser("report", help="charts and a README from result files")
    report.add_argument(
        "results",
        nargs="*",
        metavar="RESULT.json",
        help="result files, overlaid (default: the newest in results/)",
    )
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="DIR",
        help="report directory (default: reports/<result name>/)",
    )
    report.set_defaults(handler=cmd_report)

    compare = sub.add_parser("compare", help="compare two results; exit 1 on a regression")
    compare.add_argument("base", metavar="BASE.json")
    compare.add_argument("new", metavar="NEW.json", nargs="?")
    compare.add_argument(
        "--between",
        default=None,
        metavar="KEY=A,B",
        help="compare two values of a key inside one result (e.g. consumer=sync,async)",
    )
    compare.add_argument(
        "--threshold",
        type=parse_threshold,
        default=DEFAULT_THRESHOLD,
        metavar="PCT",
        help="smallest change reported as better or worse (default 10%%)",
    )
    compare.add_argument(
        "--fail-threshold",
        type=parse_threshold,
        default=None,
        metavar="PCT",
        help="smallest worse change that fails, exit 1 (default: --threshold)",
    )
    compare.add_argument(
        "--loss-threshold",
        type=parse_threshold,
        default=DEFAULT_LOSS_THRESHOLD,
        metavar="PCT",
        help="smallest change in loss, in percentage points, that counts (default 0.1%%)",
    )
    compare.add_argument(
        "--format",
        choices=("text", "md"),
        default="text",
        help="a terminal table, or Markdown for a CI comment",
    )
    compare.add_argument(
        "--charts",
        type=Path,
        default=None,
        metavar="DIR",
        help="also draw base and new overlaid into DIR",
    )
    compare.add_argument(
        "--force", action="store_true", help="compare results from different machines or versions"
    )
    compare.set_defaults(handler=cmd_compare)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chanbench",
        description="Benchmark Django Channels consumers: sync vs async, measured for real.",
    )
    parser.add_argument("--version", action="version", version=f"chanbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve the chat site (both consumers) with Daphne")
    serve.add_argument(
        "--consumer",
        choices=CONSUMERS,
        default="async",
        help="consumer the printed URL opens (both are served)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    add_server_options(serve)
    serve.set_defaults(handler=cmd_serve)

    run = sub.add_parser("run", help="run a scenario: sync vs async, measured")
    add_run_options(run)
    run.add_argument(
        "--target",
        default=None,
        metavar="WS_URL",
        help="drive an already running server (ws://host:port, or a URL with {room})",
    )
    run.add_argument(
        "--server-pid",
        type=int,
        default=None,
        help="with --target: monitor this process's threads, CPU and memory",
    )
    run.add_argument(
        "--no-calibrate",
        action="store_true",
        help="skip measuring the load generator's ceiling first",
    )
    run.add_argument(
        "--no-report",
        action="store_true",
        help="do not write the HTML report and charts beside the result",
    )
    run.set_defaults(handler=cmd_run)

    calibrate = sub.add_parser("calibrate", help="measure the load generator's ceiling")
    add_run_options(calibrate)
    calibrate.set_defaults(handler=cmd_calibrate)
    add_reading_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.command_line = shlex.join(["chanbench", *argv])
    handler: Handler = args.handler
    if threading.current_thread() is threading.main_thread():
        # Started in the background by a shell, we inherit SIGINT ignored: take it back,
        # so that Ctrl-C (or kill -INT) always stops what we started.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return handler(args)
    except UserError as exc:
        print(f"chanbench: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("chanbench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
