"""``--target``: a server chanbench did not start is one system, checked before any load.

Against a plain project written the Channels tutorial's way (its own settings, asgi.py
and ChatConsumer on the in-memory layer, nothing of chanbench's site) served by a real
Daphne this module starts and stops by PID: the default scenario's sync/async matrix
becomes one point with no verdict and no claim about the server; a URL, a handshake or a
``--server-pid`` that cannot be right is one line, exit 2, before any load; credentials
in the URL give at most one line and never reach the output or the result.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from helpers import one_error_line

from bench.cli import main
from bench.deploy.processes import free_port, start_process, stop_process

from .conftest import only_result, result_files

# The tutorial's project, part 2 and 3 (async consumer), in-memory layer.
SETTINGS = """
SECRET_KEY = "tutorial-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["daphne", "django.contrib.contenttypes", "django.contrib.auth", "channels"]
ASGI_APPLICATION = "mysite.asgi.application"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
USE_TZ = True
"""
ASGI = """
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from chat.consumers import ChatConsumer

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            URLRouter([re_path(r"ws/chat/(?P<room_name>\\w+)/$", ChatConsumer.as_asgi())])
        ),
    }
)
"""
CONSUMER = """
import json

from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_group_name = "chat_" + self.scope["url_route"]["kwargs"]["room_name"]
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data):
        message = json.loads(text_data)["message"]
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "message": message}
        )

    async def chat_message(self, event):
        await self.send(text_data=json.dumps({"message": event["message"]}))
"""
ROUTE = "/ws/chat/{room}/"
# The default scenario (sync and async), made tiny: what the load is does not matter here.
TINY_LOAD = [
    *("--set", "duration_s=1", "--set", "warmup_s=0.2", "--set", "repeats=1"),
    *("--set", "clients=4", "--set", "clients_per_room=2", "--no-calibrate"),
]
# A refusal before any load: Python's start and one handshake, not a repeat.
PREFLIGHT_S = 10.0


class Tutorial(NamedTuple):
    port: int
    pid: int

    def url(self, route: str = ROUTE) -> str:
        return f"ws://127.0.0.1:{self.port}{route}"


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tutorial]:
    """The tutorial's project served by Daphne on a free port, stopped by PID after."""
    root = tmp_path_factory.mktemp("tutorial")
    for name, text in {
        "mysite/__init__.py": "",
        "mysite/settings.py": SETTINGS,
        "mysite/asgi.py": ASGI,
        "chat/__init__.py": "",
        "chat/consumers.py": CONSUMER,
    }.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_text(text)
    port = free_port()
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    with (root / "daphne.log").open("wb") as log:
        proc = start_process([*argv, "mysite.asgi:application"], log=log, cwd=root)
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"Daphne did not listen: {(root / 'daphne.log').read_text()[-500:]}")
        yield Tutorial(port, proc.pid)
    finally:
        stop_process(proc)


def run(tmp_path: Path, *args: str) -> int:
    return main(["run", "--results-dir", str(tmp_path / "results"), *TINY_LOAD, *args])


def test_default_scenario_against_a_target_is_one_point_and_no_verdict(tmp_path, capsys, tutorial):
    code = run(tmp_path, "--target", tutorial.url(), "--server-pid", str(tutorial.pid))
    out = capsys.readouterr().out
    assert code == 0, out
    result = only_result(tmp_path / "results")
    (point,) = result["points"]  # not sync and async against the same URL
    assert point["label"].startswith("target")
    (rep,) = point["repeats"]
    assert rep["status"] == "ok", rep.get("reason")
    assert rep["counts"]["delivered"] == rep["counts"]["expected"] > 0
    assert rep["server"]["pid"] == tutorial.pid
    assert "consumer" not in result["scenario"]["matrix"]
    assert "layer" not in result["scenario"]["matrix"]
    # Neither the terminal nor the report's summary names a consumer, a ratio of the two,
    # a channel layer or a server kind it did not see.
    unobserved = re.compile(r"\b(a?sync|memory|daphne|redis)\b", re.IGNORECASE)
    table = out.split("result:")[0].split("\n\n", 1)[-1]
    assert not unobserved.search(table), table
    report = next((tmp_path / "results").glob("*/report/README.md")).read_text()
    summary = report.split("\n## ")[1]
    assert not unobserved.search(summary), summary


@pytest.mark.parametrize(
    ("target", "names"),
    [
        ("ws://127.0.0.1:{closed}/ws/chat/{{room}}/", ["ws://127.0.0.1:{closed}/ws/chat/0/"]),
        ("ws://", ["'ws://'"]),
        ("ws://127.0.0.1:99999", ["99999"]),
        # The tutorial site has no route at chanbench's own path: say which path was tried
        # and that a route with {room} is needed.
        ("ws://127.0.0.1:{port}", ["/ws/async/chat/0/", "HTTP 500", "{{room}}"]),
        # The tutorial's route ends in a slash; without it nothing matches.
        ("ws://127.0.0.1:{port}/ws/chat/{{room}}", ["ws://127.0.0.1:{port}/ws/chat/0:", "HTTP"]),
    ],
)
def test_a_target_that_cannot_work_is_one_line_before_any_load(
    tmp_path, capsys, tutorial, nothing_started, target, names
):
    closed = free_port()
    given = target.format(closed=closed, port=tutorial.port)
    started = time.monotonic()
    assert run(tmp_path, "--target", given) == 2
    assert time.monotonic() - started < PREFLIGHT_S
    err = one_error_line(capsys)
    for name in names:
        assert name.format(closed=closed, port=tutorial.port) in err
    assert not result_files(tmp_path / "results")


def test_server_pid_that_is_not_the_targets_server_is_refused(tmp_path, capsys, tutorial):
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    for pid in ("-3", "0", str(pid_max + 1)):
        assert run(tmp_path, "--target", tutorial.url(), "--server-pid", pid) == 2
        assert pid in one_error_line(capsys)
    # PID 1's processes include chanbench's: "the server" would be the whole machine,
    # load generator included. The refusal names the process that listens there.
    assert run(tmp_path, "--target", tutorial.url(), "--server-pid", "1") == 2
    assert str(tutorial.pid) in one_error_line(capsys)
    # Without --target it would be ignored: it is refused instead.
    assert run(tmp_path, "--server-pid", str(tutorial.pid)) == 2
    assert "--target" in one_error_line(capsys)
    assert not result_files(tmp_path / "results")


def test_consumer_set_for_a_target_is_refused(tmp_path, capsys, tutorial, nothing_started):
    assert run(tmp_path, "--target", tutorial.url(), "--set", "consumer=sync,async") == 2
    assert "consumer" in one_error_line(capsys)


def test_credentials_in_the_url_give_one_line_and_stay_masked(tmp_path, capfd, tutorial):
    """The clients cannot send a user and password: one line says so (not one per
    client, as picows would), and the password is in no output and no file."""
    secret = "hunter2-not-sent"
    url = tutorial.url().replace("ws://", f"ws://bob:{secret}@")
    load = ["--set", "clients=40", "--set", "clients_per_room=10"]
    assert run(tmp_path, "--target", url, *load) == 0
    out, err = capfd.readouterr()
    mentions = [line for line in (out + err).splitlines() if "password" in line.lower()]
    assert len(mentions) <= 1, mentions
    assert secret not in out + err
    for path in (tmp_path / "results").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
    result = only_result(tmp_path / "results")
    assert json.dumps(result["target"]).count("bob") == 1
    (rep,) = result["points"][0]["repeats"]
    assert rep["counts"]["connected"] == 40


def test_server_pid_that_does_not_listen_on_the_port_is_warned_about(tmp_path, capsys, tutorial):
    """A process that is not the target's server (nor chanbench's): it may be a server
    behind a proxy that holds the port, so the run goes on, with one warning naming the
    process that does listen there."""
    other = start_process(["sleep", "60"])
    try:
        code = run(tmp_path, "--target", tutorial.url(), "--server-pid", str(other.pid))
    finally:
        stop_process(other)
    out = capsys.readouterr().out
    assert code == 0, out
    (warning,) = [line for line in out.splitlines() if str(other.pid) in line and "warning" in line]
    assert str(tutorial.pid) in warning
    (rep,) = only_result(tmp_path / "results")["points"][0]["repeats"]
    assert rep["server"]["pid"] == other.pid


def test_a_target_is_profiled_through_its_server_pid(tmp_path, capsys, tutorial):
    """py-spy samples the user's server (same user here) during the window: Daphne's
    frames are in its stacks (a 1 s window of a light load may miss the consumer's)."""
    code = run(
        tmp_path, "--target", tutorial.url(), "--server-pid", str(tutorial.pid), "--profile", "cpu"
    )
    assert code == 0, capsys.readouterr().out
    (rep,) = only_result(tmp_path / "results")["points"][0]["repeats"]
    profile = rep["profile"]
    assert profile["error"] is None, profile
    (process,) = profile["processes"]
    assert process["pid"] == tutorial.pid and process["samples"] > 0
    merged = (tmp_path / "results" / profile["point_file"]).read_text()
    assert "(daphne/server.py" in merged


def test_a_target_that_cannot_be_profiled_is_refused_before_any_load(tmp_path, capsys, tutorial):
    assert run(tmp_path, "--target", tutorial.url(), "--profile", "cpu") == 2
    assert "--server-pid" in one_error_line(capsys)
    # A process py-spy cannot read as Python: its reason, in one line.
    other = start_process(["sleep", "60"])
    try:
        code = run(
            tmp_path, "--target", tutorial.url(), "--server-pid", str(other.pid), "--profile", "cpu"
        )
    finally:
        stop_process(other)
    assert code == 2
    err = one_error_line(capsys)
    assert f"--server-pid {other.pid} cannot be profiled" in err and "profile=none" in err
    assert not result_files(tmp_path / "results")
