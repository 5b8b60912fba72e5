"""Helpers for the reliability tests: tiny scenarios, process trees read from /proc,
``chanbench run`` in a subprocess, and servers that misbehave on purpose.

Processes are found by walking /proc from a PID we started, and stopped only by PID
(checked against the start time, so a reused PID is never hit).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import TINY

REPO_DIR = Path(__file__).resolve().parents[2]


def scenario_text(**matrix: Any) -> str:
    """``TINY`` (tests/helpers.py) with some matrix keys replaced or added, e.g.
    ``scenario_text(layer="redis")``."""
    lines = []
    for line in TINY.strip().splitlines():
        key = line.split("=", 1)[0].strip()
        if key in matrix:
            line = f"{key} = {json.dumps(matrix.pop(key))}"
        lines.append(line)
    lines += [f"{key} = {json.dumps(value)}" for key, value in matrix.items()]
    return "\n".join(lines) + "\n"


def write_scenario(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def url_given(monkeypatch: pytest.MonkeyPatch, how: str, variable: str, url: str) -> list[str]:
    """A service's URL given as ``how`` says: in ``variable`` (``env``), or as its
    ``--option`` (``option``, the variable unset); the command-line arguments to add."""
    if how == "env":
        monkeypatch.setenv(variable, url)
        return []
    monkeypatch.delenv(variable, raising=False)
    return [f"--{variable.lower().replace('_', '-')}", url]


def result_files(results_dir: Path) -> list[Path]:
    return sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []


def ctrl_c_keeps_the_repeat(run: ChanbenchProcess) -> dict[str, Any]:
    """Ctrl-C to ``run``'s process group, as a terminal sends it; assert exit 130 and one
    partial result whose one repeat is marked interrupted, and return that repeat."""
    os.killpg(run.popen.pid, signal.SIGINT)
    code = run.wait(60)
    assert code == 130, run.output()
    (path,) = result_files(run.results_dir)
    result = json.loads(path.read_text())
    assert result["partial"] is True
    (rep,) = result["points"][0]["repeats"]
    assert rep["interrupted"] is True
    return rep


def only_result(results_dir: Path) -> dict[str, Any]:
    (path,) = result_files(results_dir)
    return json.loads(path.read_text())


# --- processes, from /proc --------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    start_ticks: int
    state: str
    cmdline: str

    @property
    def kind(self) -> str:
        """What the harness started: daphne, redis, client worker, or other."""
        if "-m bench.deploy.supervise" in self.cmdline:
            return "daphne"  # several Daphne workers' supervisor: the server's root
        if "-m daphne" in self.cmdline and "--fd" in self.cmdline:
            return "daphne worker"
        if "-m daphne" in self.cmdline:
            return "daphne"
        if "redis-server" in self.cmdline:
            return "redis"
        if "spawn_main" in self.cmdline:
            return "client"
        if "bench.deploy.reference_server" in self.cmdline:
            return "reference"
        if "bin/postgres " in self.cmdline:
            return "postgres"
        if self.cmdline.startswith("postgres:"):
            return "postgres child"
        return "other"


def read_proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    rest = stat[stat.rindex(")") + 2 :].split()
    return Proc(
        pid=pid,
        ppid=int(rest[1]),
        start_ticks=int(rest[19]),
        state=rest[0],
        cmdline=cmdline.replace(b"\0", b" ").decode(errors="replace").strip(),
    )


def all_procs() -> list[Proc]:
    procs = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            proc = read_proc(int(entry.name))
            if proc is not None:
                procs.append(proc)
    return procs


def children(pid: int) -> list[Proc]:
    return [p for p in all_procs() if p.ppid == pid and p.state != "Z"]


def descendants(pid: int) -> list[Proc]:
    procs = all_procs()
    found, frontier = [], {pid}
    while frontier:
        level = [p for p in procs if p.ppid in frontier]
        found += level
        frontier = {p.pid for p in level}
    return found


def is_alive(proc: Proc) -> bool:
    """The very process we saw (same PID and start time) still exists, and is no zombie."""
    now = read_proc(proc.pid)
    return now is not None and now.start_ticks == proc.start_ticks and now.state != "Z"


def kill_proc(proc: Proc, sig: int = signal.SIGKILL) -> None:
    if is_alive(proc):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)


class TreeWatcher:
    """Records every descendant of ``pid`` seen while it runs (polled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.seen: dict[tuple[int, int], Proc] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for proc in descendants(self.pid):
                # Keep the view after exec (a fork shows its parent's command line first:
                # py-spy, started with a preexec_fn, for some milliseconds) and before
                # exit (a zombie shows none).
                key = (proc.pid, proc.start_ticks)
                if key not in self.seen or proc.cmdline:
                    self.seen[key] = proc
            self._stop.wait(0.02)

    def current(self, kind: str) -> list[Proc]:
        return [p for p in descendants(self.pid) if p.kind == kind and p.state != "Z"]

    def wait_for(
        self,
        kind: str,
        timeout_s: float,
        exclude: set[int] = frozenset(),  # type: ignore[assignment]
    ) -> Proc:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for proc in self.current(kind):
                if proc.pid not in exclude:
                    return proc
            time.sleep(0.02)
        raise AssertionError(f"no {kind} process appeared under pid {self.pid} in {timeout_s} s")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def left_alive(self, grace_s: float = 5.0) -> list[Proc]:
        """Descendants seen that are still alive after ``grace_s`` (to let them exit)."""
        deadline = time.monotonic() + grace_s
        while True:
            alive = [p for p in self.seen.values() if is_alive(p)]
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.05)

    def end(self, popen: subprocess.Popen[Any]) -> list[Proc]:
        """Kill ``popen`` if it still runs, stop watching, then kill by PID what of its
        tree outlived the grace; return those (a test asserts there were none)."""
        if popen.poll() is None:
            popen.kill()
            popen.wait(10)
        self.stop()
        leftovers = self.left_alive()
        for proc in leftovers:
            kill_proc(proc)
        return leftovers


@dataclass
class ChanbenchProcess:
    """``chanbench run`` in its own process group, as a terminal would run it."""

    popen: subprocess.Popen[bytes]
    watcher: TreeWatcher
    results_dir: Path
    log: Path
    started: float = field(default_factory=time.monotonic)

    def wait(self, timeout_s: float) -> int:
        code = self.popen.wait(timeout_s)
        self.watcher.stop()
        return code

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def points_written(self) -> int:
        files = result_files(self.results_dir)
        if not files:
            return 0
        with contextlib.suppress(ValueError, OSError):
            return len(json.loads(files[0].read_text())["points"])
        return 0


@pytest.fixture
def chanbench(tmp_path: Path) -> Iterator[Callable[..., ChanbenchProcess]]:
    """``chanbench(scenario_text, *args, preexec_fn=None, env=None, calibrate=False)``
    starts ``chanbench run`` (without calibrating the load generator, unless asked).

    Whatever the test does, every process of the tree is gone at the end (by PID).
    """
    started: list[ChanbenchProcess] = []

    def start(
        text: str,
        *args: str,
        preexec_fn: Callable[[], None] | None = None,
        env: dict[str, str] | None = None,
        calibrate: bool = False,
    ) -> ChanbenchProcess:
        scenario = write_scenario(tmp_path, text, f"scenario{len(started)}.toml")
        results = tmp_path / f"results{len(started)}"
        log = tmp_path / f"chanbench{len(started)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.cli",
                    "run",
                    str(scenario),
                    *([] if calibrate else ["--no-calibrate"]),
                    "--results-dir",
                    str(results),
                    *args,
                ],
                cwd=REPO_DIR,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec_fn,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )
        proc = ChanbenchProcess(popen, TreeWatcher(popen.pid), results, log)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.popen.poll() is None:
            proc.popen.kill()
            proc.popen.wait(10)
        proc.watcher.stop()
        for leftover in proc.watcher.seen.values():
            kill_proc(leftover)


@pytest.fixture
def nothing_started(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail if the code under test starts a server or a client process, or leaves a child."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a process was started: {args[:1]}")

    from bench.deploy import postgres_server, redis_server, servers
    from bench.run import runner

    monkeypatch.setattr(servers, "start_process", refuse)
    monkeypatch.setattr(redis_server, "start_process", refuse)
    monkeypatch.setattr(postgres_server, "start_process", refuse)
    monkeypatch.setattr(runner, "open_pool", refuse)
    before = {(p.pid, p.start_ticks) for p in children(os.getpid())}
    yield
    after = {(p.pid, p.start_ticks) for p in children(os.getpid())}
    assert after <= before, f"new child processes: {after - before}"


# --- servers that misbehave ------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word; yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(sock.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    sock.close()


MISBEHAVE_AFTER_MESSAGES = 50


@pytest.fixture
def rude_chat_server() -> Iterator[int]:
    """A chat server (a room per path) that, at their 50th message, sends
    the first client to send a frame that is not JSON, the second JSON without ``message``, and
    hangs up on the third; the rest are served properly. Yields the port."""
    from websockets.asyncio.server import ServerConnection, serve

    loop = asyncio.new_event_loop()
    rooms: dict[str, set[ServerConnection]] = {}
    arrivals: list[ServerConnection] = []
    ready = threading.Event()
    port: list[int] = []

    async def misbehave(ws: ServerConnection, nth: int) -> None:
        if nth == 0:
            await ws.send("this is not json")
        elif nth == 1:
            await ws.send(json.dumps({"text": "no message key"}))
        elif nth == 2:
            ws.transport.abort()  # gone without a close frame, as a crashed server would be

    async def handler(ws: ServerConnection) -> None:
        room = rooms.setdefault(ws.request.path if ws.request else "/", set())
        room.add(ws)
        nth = -1
        received = 0
        try:
            async for message in ws:
                received += 1
                if received == 1:  # a client, not the pre-flight handshake that sends nothing
                    nth = len(arrivals)
                    arrivals.append(ws)
                # Misbehave once the load is under way (the client's 50th message), not
                # after a delay that a loaded machine could stretch past the run.
                if received == MISBEHAVE_AFTER_MESSAGES:
                    await misbehave(ws, nth)
                for peer in list(room):
                    with contextlib.suppress(Exception):
                        await peer.send(message)
        except Exception:
            pass
        finally:
            room.discard(ws)

    async def main(stop: asyncio.Event) -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            port.append(next(iter(server.sockets)).getsockname()[1])
            ready.set()
            await stop.wait()

    stop_event: list[asyncio.Event] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        stop_event.append(asyncio.Event())
        loop.run_until_complete(main(stop_event[0]))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield port[0]
    loop.call_soon_threadsafe(stop_event[0].set)
    thread.join(10)
    loop.close()
