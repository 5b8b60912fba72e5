"""The ``chanbench`` command: one subcommand per job, one handler each.

Expected failures (``UserError``) print one line and exit 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

from bench import __version__
from bench.errors import UserError
from bench.processes import check_port_free
from bench.server import CONSUMERS, LAYERS, DaphneServer, ServerSettings

EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """Options that choose and tune the server's channel layer."""
    group = parser.add_argument_group("server")
    group.add_argument("--layer", choices=LAYERS, default="memory",
                       help="channel layer (default: memory, which needs no service)")
    group.add_argument("--capacity", type=int, default=100,
                       help="layer capacity per channel; messages past it are dropped (default 100)")
    group.add_argument("--redis-url", default=None,
                       help="Redis for the Redis layers (default: $REDIS_URL, else a private one)")


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the chat site with Daphne until Ctrl-C, as the tutorial's last step does."""
    import os

    check_port_free(args.host, args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ExitStack() as stack:
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chanbench-serve-")))
        redis_url = args.redis_url or os.environ.get("REDIS_URL")
        if args.layer != "memory":
            from bench.redis_server import redis_for

            redis_url = stack.enter_context(redis_for(redis_url, log_dir / "redis.log"))
        settings = ServerSettings(layer=args.layer, capacity=args.capacity, redis_url=redis_url)
        server = stack.enter_context(DaphneServer(settings, args.host, args.port, log_dir / "daphne.log"))
        server.wait_ready(args.consumer)
        netloc = f"[{args.host}]:{args.port}" if ":" in args.host else f"{args.host}:{args.port}"
        print(f"chanbench: serving the chat on http://{netloc}/chat/lobby/?consumer={args.consumer} "
              f"(layer {args.layer}; Ctrl-C stops)", flush=True)
        try:
            while not stop.wait(0.5):
                if not server.alive():
                    raise UserError(f"daphne exited unexpectedly; see {server.log_path}")
        except KeyboardInterrupt:
            pass
    print("chanbench: stopped", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chanbench",
        description="Benchmark Django Channels consumers: sync vs async, measured for real.",
    )
    parser.add_argument("--version", action="version", version=f"chanbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve the chat site (both consumers) with Daphne")
    serve.add_argument("--consumer", choices=CONSUMERS, default="async",
                       help="consumer the printed URL opens (both are served)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    add_server_options(serve)
    serve.set_defaults(handler=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except UserError as exc:
        print(f"chanbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("chanbench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
