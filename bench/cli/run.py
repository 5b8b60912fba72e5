"""``chanbench run`` and ``calibrate``: the commands that measure and write results."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO, cast

from bench.cli import exits, read
from bench.deploy import own_site
from bench.deploy.listen import Listen, listen_for
from bench.errors import ExitCode, UserError
from bench.redact import RedactingWriter, redact
from bench.report import churn, tables
from bench.report.cluster import cluster_items
from bench.results import environment, store
from bench.run import flags, runner, target
from bench.scenario import Scenario
from bench.scenario import load as load_scenario
from bench.scenario.parse import check_site


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The ``run`` and ``calibrate`` subcommands and their options."""
    run = sub.add_parser(
        "run",
        help="run a scenario: sync vs async, measured",
        epilog=exits.epilog(
            [ExitCode.OK, ExitCode.USER_ERROR, ExitCode.POINT_FAILED, ExitCode.INTERRUPTED]
        ),
        formatter_class=exits.FORMATTER,
    )
    add_run_options(run)
    run.add_argument(
        "--target",
        default=None,
        metavar="WS_URL",
        help="drive an already running server (ws://host:port, or a URL with {room})",
    )
    run.add_argument(
        "--protocol",
        default=None,
        metavar="MODULE:CLASS",
        help="what the clients say: a protocol class (docs/own-consumer.md); the same as "
        "--set protocol=MODULE:CLASS",
    )
    run.add_argument(
        "--site",
        default=None,
        metavar="DIR",
        help="serve your own Django project instead of chanbench's chat site "
        "(docs/own-consumer.md)",
    )
    run.add_argument(
        "--asgi",
        default=None,
        metavar="MODULE:APP",
        help="with --site: the ASGI application (default: the settings' ASGI_APPLICATION)",
    )
    run.add_argument(
        "--settings",
        default=None,
        metavar="MODULE",
        help="with --site: DJANGO_SETTINGS_MODULE (default: the one manage.py sets)",
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


DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "quick.toml"


def add_scenario_options(parser: argparse.ArgumentParser, example: str) -> None:
    """The scenario file and ``--set``, as every command that measures one takes them."""
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
        help=f"override a matrix key, e.g. {example}",
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``run`` and ``calibrate``: the scenario and where results go."""
    add_scenario_options(parser, "clients=10,100")
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
        "--cluster",
        default=None,
        metavar="tcp://HOST:PORT|local:N",
        help="run the client workers on a Dask cluster: a `dask scheduler`'s address, or "
        "local:N for N Dask worker processes here (needs chanbench[cluster]; docs/cluster.md)",
    )
    parser.add_argument(
        "--bind",
        default=None,
        metavar="IP",
        help="the address chanbench's servers listen on (default: the scenario's bind, "
        "else 127.0.0.1); load hosts of a --cluster need one they reach (docs/cluster.md)",
    )
    parser.add_argument(
        "--advertise",
        default=None,
        metavar="HOST",
        help="the host name or address the clients connect to (default: the bind address; "
        "needed with --bind 0.0.0.0 or ::)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        metavar="none,cpu,memory",
        help="profile the server: cpu (py-spy on every process of its tree, during each "
        "measured window) or memory (its command under memray); the same as --set "
        "profile=..., so none,cpu measures py-spy's cost",
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

    profile = [f"profile={args.profile}"] if args.profile else []
    protocol = [f"protocol={args.protocol}"] if getattr(args, "protocol", None) else []
    overrides = [*args.overrides, *profile, *protocol]
    scenario = with_site(args, load_scenario(args.scenario, overrides, args.env_options))
    given = getattr(args, "target", None)
    server_pid = getattr(args, "server_pid", None)
    target_ = None
    listen = _listen(args, scenario, given)
    if given:
        target_, scenario, warnings = target.prepare(given, scenario, server_pid)
        for line in warnings:
            print(f"chanbench: warning: {line}")
    else:
        target.check_server_pid(server_pid, None)
    results_dir = args.results_dir or store.RESULTS_DIR
    store.check_writable(results_dir, "--results-dir")  # before minutes of measuring
    path = store.new_path(scenario.run_name(given), environment.git_info().commit, results_dir)
    return runner.RunContext(
        scenario=scenario,
        path=path,
        log_dir=run_dir(path) / "logs",
        out=cast(TextIO, RedactingWriter(sys.stdout)),
        target=target_,
        server_pid=server_pid,
        redis_url=args.redis_url or os.environ.get("REDIS_URL"),
        database_url=args.database_url or os.environ.get("DATABASE_URL"),
        command=args.command_line,
        listen=listen,
    )


def _listen(args: argparse.Namespace, scenario: Scenario, given: str | None) -> Listen:
    """Where the servers listen and the clients connect (``--bind``/``--advertise``, else
    the scenario's), checked, and recorded with the scenario."""
    if given and (args.bind or args.advertise):
        option = "--bind" if args.bind else "--advertise"
        raise UserError(f"{option} with --target: chanbench starts no server; drop {option}")
    bind, advertise = args.bind or scenario.bind, args.advertise or scenario.advertise
    source = "--bind/--advertise" if args.bind or args.advertise else scenario.path or "scenario"
    listen = listen_for(bind, advertise, source)
    if bind is not None or advertise is not None:
        scenario.bind, scenario.advertise = listen.bind, listen.advertise
    return listen


def with_site(args: argparse.Namespace, scenario: Scenario) -> Scenario:
    """The scenario serving the ``--site`` (``--asgi``, ``--settings``) given, if any."""
    site, asgi, settings = (getattr(args, k, None) for k in ("site", "asgi", "settings"))
    if not (site or asgi or settings):
        return scenario
    if site is None and scenario.site is None:
        raise UserError("--asgi and --settings go with --site DIR (your Django project)")
    if getattr(args, "target", None):
        raise UserError("--site with --target: chanbench serves the site, or drives yours")
    folder = site or (scenario.site.dir if scenario.site else ".")
    found = own_site.find(folder, asgi, settings)
    scenario = dataclasses.replace(scenario, site=found)
    check_site(scenario.path or scenario.name, scenario)
    return scenario


def run_dir(result_path: Path) -> Path:
    """The folder beside a result file that holds its logs and its report."""
    return result_path.with_suffix("")


@contextlib.contextmanager
def _cluster(args: argparse.Namespace, ctx: runner.RunContext) -> Iterator[None]:
    """``ctx.cluster`` connected for the command (``--cluster``, else the scenario's
    ``cluster``), its workers checked, closed after; Dask imported only then."""
    spec = args.cluster or ctx.scenario.cluster
    if not spec:
        yield
        return
    try:
        from bench.loadgen.cluster import Cluster
    except ImportError:
        raise UserError(
            f"--cluster {spec}: Dask is not installed; pip install 'chanbench[cluster]'"
        ) from None
    with Cluster(spec, ctx.log_dir) as ctx.cluster:
        ctx.cluster.check(ctx.scenario.points())
        ctx.scenario.cluster = spec  # recorded with the run
        if ctx.listen.loopback and not ctx.target:
            away = sorted({w.ip for w in ctx.cluster.workers() if not _is_loopback(w.ip)})
            if away:
                print(
                    f"chanbench: warning: the servers listen on {ctx.listen.bind}, which the "
                    f"Dask workers at {', '.join(away)} cannot reach if they are other hosts: "
                    "give --bind (and --advertise) an address they reach"
                )
        yield


def _is_loopback(ip: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:  # a host name: cannot tell
        return False


def cmd_run(args: argparse.Namespace) -> int:
    """Run a scenario against both consumers; print the table; save the result and,
    beside it, the report."""
    ctx = _run_context(args)
    with _cluster(args, ctx):
        code = runner.run(ctx, calibrate_first=not args.no_calibrate)
    result = ctx.run
    if result.points:
        print()
        print(tables.run_table(result))
        for line in tables.saturation_lines(result):
            print(line)
        leaks = churn.table(result, brief=True)
        if leaks is not None:  # churn points: memory, and every counter not flat
            print("\n" + tables.render(*leaks))
            print("churn: RSS and USS, and the counters not flat; the report has them all")
        stairs = churn.staircase_table(result)
        if stairs is not None:  # each step: connections, connect rate and times, CPU, RSS
            print("\n" + tables.render(*stairs))
        for line in churn.staircase_lines(result):
            print(f"idle connections: {line}")
        for calibration in result.calibrations:
            if calibration.deliveries_per_s:
                print(
                    f"\nload generator ceiling (reference server, {calibration.point.clients} "
                    f"clients, closed loop): {calibration.deliveries_per_s:,.0f} deliveries/s"
                )
        for line in cluster_items(result):
            print(line)
        flagged = [(p.label, w) for p in result.points for r in p.repeats for w in r.warnings]
        for line in flags.summary_lines(flagged):
            print(redact(f"warning: {line}"))
    if not ctx.path.exists():
        return code  # stopped before anything was measured: there is no file to name
    print(f"\nresult: {ctx.path}")
    if result.points and not args.no_report:
        from bench import report

        index = read.write_report(
            [report.Source(ctx.path.stem, result, ctx.path)], run_dir(ctx.path) / "report"
        )
        print(f"report: {index}")
    return code


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Measure the load generator's ceiling against the reference broadcast server."""
    ctx = _run_context(args)
    biggest = max(ctx.scenario.points(), key=lambda p: p.clients)
    with _cluster(args, ctx):
        calibration = runner.calibrate(ctx, biggest)
    print(
        f"load generator ceiling: {calibration.deliveries_per_s or 0:,.0f} deliveries/s, "
        f"{calibration.sent_per_s or 0:,.0f} sends/s "
        f"({biggest.clients} clients, {biggest.room_count} rooms, "
        f"client CPU {calibration.client_cpu_percent}%)"
    )
    for host in calibration.hosts:  # on a cluster: each host's share
        print(
            f"  host {host.name} ({host.address}): {host.deliveries_per_s:,.0f} deliveries/s, "
            f"{host.clients} clients, client CPU {host.client_cpu_percent}%, "
            f"clock {host.clock_offset_ms:+.3f} ms +-{host.clock_bound_ms:.3f}"
        )
    return 0
