"""The ``chanbench`` command: one subcommand per job, one handler each.

``serve`` serves the chat site; ``run`` and ``calibrate`` measure (``run``); ``report``
and ``compare`` read results (``read``). Every outcome has its own exit code
(``bench.errors.ExitCode``, listed by ``--help``): an expected failure (``UserError``),
or the machine's refusal of a file operation (``OSError``: a full or read-only disk),
prints one line and exits 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from bench import __version__
from bench.cli import bisect, exits, profile, read, run, serve
from bench.errors import ExitCode, UserError
from bench.redact import redact

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chanbench",
        description="Benchmark Django Channels consumers: sync vs async, measured for real.",
        epilog=exits.epilog(),
        formatter_class=exits.FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"chanbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.add_command(sub)
    run.add_commands(sub)
    read.add_commands(sub)
    profile.add_command(sub)
    bisect.add_commands(sub)
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
    except OSError as exc:
        # The machine's state (a disk, a file, a socket) rather than a bug: one line, as
        # for bad input. Writes the atomic writer knows of say more (store.write_error).
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"chanbench: error: {redact(where + str(exc.strerror or exc))}", file=sys.stderr)
        return ExitCode.USER_ERROR
    except KeyboardInterrupt as exc:
        # An interrupt may say what it left undone and how to finish it (cli.read).
        said = f": {exc}" if str(exc) else ""
        print(f"chanbench: interrupted{said}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    finally:
        _forget_caught_interrupts()


def _forget_caught_interrupts() -> None:
    """Exit with our code, not by SIGINT, after a Ctrl-C we handled.

    CPython remembers a KeyboardInterrupt that escaped any ``exec``/``eval`` of a string
    (dataclasses and namedtuples build their methods that way, so a Ctrl-C during an
    import lands there), even when it was caught further up; under ``python -m`` it then
    kills itself with SIGINT at exit, and the 130 we returned reads as -2. Each string
    ``exec`` clears that flag first: this one clears it for good.
    """
    exec("pass")  # a constant: the exec itself is the point
