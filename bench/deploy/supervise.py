"""Several server processes on one listening socket, for servers that have no workers
option of their own (Daphne): bind ``host:port``, start ``--workers`` copies of the
command with the socket's descriptor in place of ``{fd}`` (and its index in place of
``{worker}``), and stop them all when told to, or as soon as one of them exits (its exit
is the repeat's failure, not a quieter server). It runs under the server's interpreter,
with this checkout on its path.

Usage: python -m bench.deploy.supervise --host H --port P --workers N -- COMMAND... {fd} ...
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

from bench.deploy.processes import die_with_parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(1024)
    fd = sock.fileno()
    os.set_inheritable(fd, True)
    line = [part.replace("{fd}", str(fd)) for part in command]
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # {worker}: the worker's index, where each needs its own file (memray's capture).
    workers = [
        subprocess.Popen(
            [part.replace("{worker}", str(i)) for part in line],
            pass_fds=(fd,),
            preexec_fn=die_with_parent,
        )
        for i in range(args.workers)
    ]
    print(f"supervise: {args.workers} workers on {args.host}:{args.port}", flush=True)
    reason = None
    while not stopping and reason is None:
        done = [w for w in workers if w.poll() is not None]
        if done:
            reason = f"supervise: worker pid {done[0].pid} exited with code {done[0].returncode}"
        time.sleep(0.1)
    for w in workers:
        if w.poll() is None:
            w.terminate()
    deadline = time.monotonic() + 5
    for w in workers:
        try:
            w.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()
    if reason is None:
        return 0
    print(reason, flush=True)  # last, after the others' goodbyes: the log's last line
    return 1


if __name__ == "__main__":
    sys.exit(main())
