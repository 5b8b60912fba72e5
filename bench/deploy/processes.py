"""Starting and stopping child processes: by the PID we started, never by name.

Children die with us even when we are killed outright (``PR_SET_PDEATHSIG``), and are
stopped politely first (SIGTERM), then firmly (SIGKILL) when they do not listen.
"""

from __future__ import annotations

import contextlib
import ctypes
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from bench.errors import ServerError

# How long a child gets to exit after SIGTERM before SIGKILL: Daphne closes its
# websockets and Redis exits in well under a second on a quiet machine.
STOP_TIMEOUT_S = 5.0
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel for SIGTERM when our parent dies (in a child before exec, or in a
    multiprocessing child at start)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start_process(
    argv: Sequence[str],
    *,
    log: IO[bytes] | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: tuple[int, int] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session (so a terminal's Ctrl-C reaches only us).

    ``user`` is a ``(uid, gid)`` to run it as, with no supplementary groups (root only:
    PostgreSQL refuses to run as root).
    """
    return subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=log if log is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
        # Runs after the switch of user, which would clear the parent-death signal.
        preexec_fn=die_with_parent,
        user=None if user is None else user[0],
        group=None if user is None else user[1],
        extra_groups=None if user is None else [],
    )


def stop_process(
    proc: subprocess.Popen[bytes],
    timeout_s: float = STOP_TIMEOUT_S,
    sig: signal.Signals = signal.SIGTERM,
) -> int | None:
    """Stop ``proc`` (``sig``, then SIGKILL) and reap it; return its exit code.

    ``sig`` is for servers whose polite signal is another (PostgreSQL: SIGINT).
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout_s)
    return proc.returncode


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, read from /proc (``pid`` first); [] once it is gone.

    Read by hand from each thread's ``children`` file, not with psutil's ``children()``:
    the monitor finds the tree again at every 10 Hz sample, and psutil finds a process's
    children by reading every process on the machine (measured, a Daphne with 2 workers
    among 79 processes: 1.2 ms against 0.14 ms; it grows with the machine, not the tree)."""
    if not Path(f"/proc/{pid}").exists():
        return []
    tree, todo = [pid], [pid]
    while todo:
        parent = todo.pop()
        for task in _listdir(Path(f"/proc/{parent}/task")):
            try:
                children = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in tree:
                    tree.append(child)
                    todo.append(child)
    return tree


def _listdir(path: Path) -> list[str]:
    try:
        return [p.name for p in path.iterdir()]
    except OSError:
        return []


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int) -> None:
    """Raise a one-line ``UserError`` when ``host:port`` is already taken."""
    from bench.errors import UserError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As servers do: connections of a server just stopped (TIME_WAIT) do not count,
        # a listening socket does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen()
        except OSError as exc:
            raise UserError(
                f"port {port} on {host} is not free ({exc.strerror}); "
                "pick another with --port, or stop what is using it"
            ) from None


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def last_line(path: Path, max_chars: int = 300) -> str:
    """The last non-blank line of a log file (a traceback's exception), for one-line errors."""
    lines = [line.strip() for line in tail(path, 50).splitlines() if line.strip()]
    if not lines:
        return "its log is empty"
    line = lines[-1]
    return line if len(line) <= max_chars else line[: max_chars - 3] + "..."


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft limit on open files to the hard one; return (soft, hard) after.

    Every client holds a socket in a client process and another in the server, and
    both inherit this limit; the usual soft default (1,024) is far below the hard one.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft, hard


def wait_until_answers(
    proc: subprocess.Popen[bytes],
    probe: Callable[[], None],
    name: str,
    log_path: Path,
    timeout_s: float,
) -> None:
    """Call ``probe`` (which raises ``ServerError`` while the service is not ready) until it
    passes; a ``ServerError`` with the log's last line if ``proc`` exits, or after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise ServerError(
                f"{name} exited with code {proc.returncode}: {last_line(log_path)} "
                f"(log: {log_path})"
            )
        try:
            probe()
            return
        except ServerError:
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{name} did not answer within {timeout_s:g} s (log: {log_path})"
                ) from None
            time.sleep(0.05)
