"""``chanbench serve``: the chat site, both consumers, on one server until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

from bench.deploy.processes import check_port_free
from bench.deploy.servers import DEFAULT_SERVER, SERVERS, server_for
from bench.deploy.site import (
    CONSUMERS,
    DEFAULT_CAPACITY,
    DEFAULT_LAYER,
    DEFAULT_LOOP,
    LAYERS,
    LOOPS,
    ServerSettings,
    netloc,
)
from bench.errors import UserError
from bench.run import preflight
from bench.scenario import Point

MAX_PORT = 65535


def add_command(sub: argparse._SubParsersAction) -> None:
    """The ``serve`` subcommand and its options."""
    serve = sub.add_parser(
        "serve", help="serve the chat site (both consumers) with the --server kind"
    )
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


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """Options that choose the server kind and tune it: loop, workers, channel layer."""
    group = parser.add_argument_group("server")
    group.add_argument(
        "--server",
        choices=tuple(SERVERS),
        default=DEFAULT_SERVER,
        help=f"server kind (default: {DEFAULT_SERVER})",
    )
    group.add_argument(
        "--loop", choices=LOOPS, default=DEFAULT_LOOP, help=f"event loop (default: {DEFAULT_LOOP})"
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
        default=DEFAULT_LAYER,
        help=f"channel layer (default: {DEFAULT_LAYER}, which needs no service)",
    )
    group.add_argument(
        "--capacity",
        type=int,
        default=DEFAULT_CAPACITY,
        help=f"layer capacity per channel; past it messages drop (default {DEFAULT_CAPACITY})",
    )
    group.add_argument(
        "--redis-url",
        default=None,
        help="Redis for the Redis layers (default: $REDIS_URL, else a private one)",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the chat site with the chosen server kind (``--server``, Daphne by default)
    until Ctrl-C, as the tutorial's last step does."""
    import os

    if not 1 <= args.port <= MAX_PORT:
        raise UserError(f"--port {args.port}: a TCP port is 1 to {MAX_PORT}; give one such as 8000")
    check_port_free(args.host, args.port)
    preflight.check_installed(args.server)
    if args.workers < 1 or (args.workers > 1 and args.layer == "memory"):
        raise UserError(
            f"--workers {args.workers} with --layer {args.layer}: give 1, or several "
            "workers on a Redis layer (--layer redis), where rooms span the workers"
        )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Kept after the server stops, for the user to read: the system's temp folder clears it.
    log_dir = Path(tempfile.mkdtemp(prefix="chanbench-serve-"))
    with ExitStack() as stack:
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
        try:  # from here on, Ctrl-C is the way to stop: exit 0
            print(
                f"chanbench: serving the chat on {page} ({args.server}, layer {args.layer}; "
                f"Ctrl-C stops)\nchanbench: server log: {server.log_path}",
                flush=True,
            )
            while not stop.wait(0.5):
                if not server.alive():
                    raise UserError(f"{server.name} exited unexpectedly; see {server.log_path}")
        except KeyboardInterrupt:
            pass
    print(f"chanbench: stopped; its logs are kept in {log_dir}", flush=True)
    return 0
