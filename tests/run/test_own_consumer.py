"""Benchmark your own consumer, end to end: a plain Django project made here, in a
temporary folder (its own settings, manage.py, asgi.py and consumers, nothing of
chanbench's site), and protocols written only from docs/own-consumer.md.

It is driven twice: with ``--target``, served by a plain Daphne this module starts and
stops by PID, and with ``--site``, served by chanbench. Real servers, real clients over
loopback; what is asserted is behaviour (every request answered, latency recorded, the
books' verdicts), never a speed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import one_error_line

from bench.cli import main
from bench.deploy.processes import free_port, start_process, stop_process

MANAGE = """
import os, sys
if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
"""
SETTINGS = """
from pathlib import Path
SECRET_KEY = "test-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions", "channels",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": Path(__file__).resolve().parent.parent / "db.sqlite3"}}
ASGI_APPLICATION = "proj.asgi.application"
import os
# OWN_TEST_LAYER: a test makes the project's own layer unusable, to see chanbench's serve.
CHANNEL_LAYERS = {
    "default": {"BACKEND": os.environ.get("OWN_TEST_LAYER", "channels.layers.InMemoryChannelLayer")}
}
USE_TZ = True
"""
ASGI = """
import os
from django.core.asgi import get_asgi_application
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path
from app import consumers

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": AuthMiddlewareStack(URLRouter([
        re_path(r"^ws/api/sync/(?P<room>\\w+)/$", consumers.SyncApi.as_asgi()),
        re_path(r"^ws/api/async/(?P<room>\\w+)/$", consumers.AsyncApi.as_asgi()),
        re_path(r"^ws/board/(?P<room>\\w+)/$", consumers.Board.as_asgi()),
        re_path(r"^ws/sink/(?P<room>\\w+)/$", consumers.Sink.as_asgi()),
        re_path(r"^ws/odd/(?P<room>\\w+)/(?P<client>\\d+)/$", consumers.Odd.as_asgi()),
        re_path(r"^ws/private/(?P<room>\\w+)/$", consumers.Private.as_asgi()),
        re_path(r"^ws/bin/(?P<room>\\w+)/$", consumers.Binary.as_asgi()),
        re_path(r"^ws/joined/(?P<room>\\w+)/$", consumers.Joined.as_asgi()),
    ])),
})
"""
CONSUMERS = """
from channels.generic.websocket import (
    AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer, JsonWebsocketConsumer,
)


class SyncApi(JsonWebsocketConsumer):
    def connect(self):
        self.accept()
        self.send_json({"type": "welcome"})

    def receive_json(self, content, **kwargs):
        self.send_json({"type": "presence", "online": 1})
        self.send_json({"type": "result", "request": content["request"]})


class AsyncApi(AsyncJsonWebsocketConsumer):
    async def connect(self):
        await self.accept()
        await self.send_json({"type": "welcome"})

    async def receive_json(self, content, **kwargs):
        await self.send_json({"type": "presence", "online": 1})
        await self.send_json({"type": "result", "request": content["request"]})


class Board(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.group = "board_" + self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        await self.channel_layer.group_send(self.group, {"type": "post", "note": content})

    async def post(self, event):
        await self.send_json({"event": "posted", "data": {"ref": event["note"]["ref"]}})


class Sink(AsyncJsonWebsocketConsumer):
    async def receive_json(self, content, **kwargs):
        pass


class Odd(AsyncJsonWebsocketConsumer):
    async def receive_json(self, content, **kwargs):
        request = content["request"]
        if self.scope["url_route"]["kwargs"]["client"] == "0":
            request = "garbled" + request
        await self.send_json({"type": "result", "request": request})


class Binary(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.send(bytes_data=b"R" + bytes_data[1:])


class Joined(AsyncJsonWebsocketConsumer):
    joined = False

    async def receive_json(self, content, **kwargs):
        if content["type"] == "join":
            self.joined = True
            await self.send_json({"type": "joined"})
        elif self.joined:
            await self.send_json({"type": "result", "request": content["request"]})


class Private(AsyncJsonWebsocketConsumer):
    async def connect(self):
        if not self.scope["user"].is_authenticated:
            await self.close()
            return
        await self.accept()

    async def receive_json(self, content, **kwargs):
        await self.send_json({"type": "result", "request": content["request"]})
"""
# Protocols as a user writes them from docs/own-consumer.md: nothing of chanbench imported
# but the optional session helper.
PROTOCOLS = """
import json
import os


class Api:
    recipients = "sender"

    def message(self, token):
        return json.dumps({"type": "call", "request": token})

    def token(self, frame):
        data = json.loads(frame)
        return data["request"] if data["type"] == "result" else None


class Board:
    recipients = "room"
    path = "/ws/board/{room}/"

    def message(self, token):
        return json.dumps({"ref": token})

    def token(self, frame):
        return json.loads(frame)["data"]["ref"]


class Sink(Api):
    recipients = "none"
    path = "/ws/sink/{room}/"


class Odd(Api):
    path = "/ws/odd/{room}/{client}/"


class Binary:
    recipients = "sender"
    binary = True
    path = "/ws/bin/{room}/"

    def message(self, token):
        return b"Q" + token.encode()

    def token(self, frame):
        return frame[1:].decode() if frame[:1] == b"R" else None


class Joined(Api):
    path = "/ws/joined/{room}/"

    def hello(self, client, room):
        return [json.dumps({"type": "join", "room": room})]


class Private(Api):
    path = "/ws/private/{room}/"

    def headers(self, client):
        from bench.protocols.auth import session_cookie
        return {"Cookie": session_cookie(SITE)}
"""
ROUTES = """
[consumers.sync]
path = "/ws/api/sync/{room}/"
[consumers.async]
path = "/ws/api/async/{room}/"
"""
LOAD = """
clients = 4
clients_per_room = 2
warmup_s = 0.3
duration_s = 1.0
drain_quiet_s = 0.3
"""


def site_environ() -> dict[str, str]:
    """Our environment without the settings tests/conftest.py sets for chanbench's site:
    the project's manage.py and asgi.py name their own."""
    return {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ownsite")
    site = root / "site"
    for name, text in {
        "manage.py": MANAGE,
        "proj/__init__.py": "",
        "proj/settings.py": SETTINGS,
        "proj/asgi.py": ASGI,
        "app/__init__.py": "",
        "app/consumers.py": CONSUMERS,
    }.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(textwrap.dedent(text))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=site,
        env=site_environ(),
        check=True,
        timeout=120,
    )
    # The scenario's folder, with the protocols beside it.
    (root / "ownproto.py").write_text(f"SITE = {str(site)!r}\n" + PROTOCOLS)
    return root


@pytest.fixture(scope="module")
def daphne(project: Path) -> Iterator[int]:
    """The project served by a plain Daphne on a free port, stopped by PID after."""
    port = free_port()
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    with (project / "daphne.log").open("wb") as log:
        proc = start_process(
            [*argv, "proj.asgi:application"], log=log, cwd=project / "site", env=site_environ()
        )
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"Daphne did not listen: {(project / 'daphne.log').read_text()[-500:]}")
        yield port
    finally:
        stop_process(proc)


def run(project: Path, tmp_path: Path, matrix: str, *args: str, head: str = "") -> dict:
    """``chanbench run`` of a scenario beside the protocols; its one result."""
    path = project / f"{tmp_path.name}.toml"
    path.write_text(f'name = "own"\n{head}\n[matrix]\n{matrix}{LOAD}')
    results = tmp_path / "results"
    code = main(["run", str(path), "--results-dir", str(results), "--no-calibrate", *args])
    (file,) = sorted(results.glob("*.json"))
    result = json.loads(file.read_text())
    assert code == 0, [r.get("reason") for p in result["points"] for r in p["repeats"]]
    return result


def ok_counts(point: dict) -> dict:
    (rep,) = point["repeats"]
    assert rep["status"] == "ok", rep.get("reason")
    return rep["counts"] | {"latency_count": rep["latency_ms"]["count"]}


def assert_every_request_answered(counts: dict) -> None:
    assert counts["expected"] == counts["sent_measured"] > 0  # owed to the sender alone
    assert counts["delivered"] == counts["expected"] and counts["lost"] == 0
    assert counts["latency_count"] == counts["delivered"]
    assert counts["malformed"] == 0
    # The welcome and one presence frame a request answer nothing: counted, ignored.
    assert counts["unmatched"] >= counts["connected"] + counts["sent_measured"]


def test_the_pair_served_by_chanbench_from_the_users_folder(project, tmp_path, capsys):
    matrix = 'consumer = ["sync", "async"]\nprotocol = "ownproto:Api"\nrepeats = 4\n'
    matrix += 'mode = "open"\nrate = 10.0\n'
    result = run(project, tmp_path, matrix, "--site", str(project / "site"), head=ROUTES)
    assert {p["point"]["consumer"] for p in result["points"]} == {"sync", "async"}
    for point in result["points"]:
        for rep in point["repeats"]:
            assert_every_request_answered(
                rep["counts"] | {"latency_count": rep["latency_ms"]["count"]}
            )
        assert point["software"]["site"]["path"] == str(project / "site")
        assert "proj.asgi:application" in point["server_command"]
    out = capsys.readouterr().out
    assert "async against sync" in out  # the verdict line, whatever it says
    report = next((tmp_path / "results").glob("*/report/README.md")).read_text()
    assert "the site's own layer" in report  # not the memory layer chanbench did not set
    assert "answered to its sender alone" in report and "user's own project" in report


def test_the_site_served_with_chanbenchs_layer_key(project, tmp_path, monkeypatch):
    """``layer`` with --site replaces the site's CHANNEL_LAYERS; without it the site's own
    (here made unusable) serves, and the room broadcast fails."""
    monkeypatch.setenv("OWN_TEST_LAYER", "no_such_package.Layer")
    site = ("--site", str(project / "site"))
    matrix = 'protocol = "ownproto:Board"\nlayer = "memory"\ncapacity = 500\n'
    result = run(project, tmp_path, matrix, *site)
    counts = ok_counts(result["points"][0])
    assert counts["delivered"] == counts["expected"] == 2 * counts["sent_measured"] > 0
    report = next((tmp_path / "results").glob("*/report/README.md")).read_text()
    assert "chanbench's layer (the layer key)" in report
    scenario = project / f"{tmp_path.name}-own.toml"
    scenario.write_text(f'name = "own"\n[matrix]\nprotocol = "ownproto:Board"\n{LOAD}')
    results = tmp_path / "own-layer"
    code = main(["run", str(scenario), *site, "--results-dir", str(results), "--no-calibrate"])
    assert code == 3  # the point failed: the site's own layer cannot be imported


def test_the_pair_behind_a_target_compared_with_a_verdict(project, daphne, tmp_path, capsys):
    matrix = 'consumer = ["sync", "async"]\nprotocol = "ownproto:Api"\n'
    target = f"ws://127.0.0.1:{daphne}"
    result = run(project, tmp_path, matrix, "--target", target, head=ROUTES)
    assert result["target"] == target
    assert {p["point"]["consumer"] for p in result["points"]} == {"sync", "async"}
    for point in result["points"]:
        assert_every_request_answered(ok_counts(point))
    assert "async against sync" in capsys.readouterr().out  # the routes set side by side
    report = next((tmp_path / "results").glob("*/report/README.md")).read_text()
    assert "the target's own layer" in report  # a summary sentence, sync against async
    (path,) = (tmp_path / "results").glob("*.json")
    assert main(["compare", str(path), "--between", "consumer=sync,async"]) in (0, 1, 4)
    assert "async" in capsys.readouterr().out


def test_room_recipients_in_a_json_format_of_their_own(project, daphne, tmp_path):
    matrix = 'protocol = "ownproto:Board"\n'
    result = run(project, tmp_path, matrix, "--target", f"ws://127.0.0.1:{daphne}")
    counts = ok_counts(result["points"][0])
    assert counts["expected"] == 2 * counts["sent_measured"] > 0  # rooms of two
    assert counts["delivered"] == counts["expected"] and counts["malformed"] == 0


def test_nothing_owed_counts_what_was_sent(project, daphne, tmp_path):
    matrix = 'protocol = "ownproto:Sink"\nmode = "open"\nrate = 10.0\n'
    result = run(project, tmp_path, matrix, "--target", f"ws://127.0.0.1:{daphne}")
    counts = ok_counts(result["points"][0])
    assert counts["sent_measured"] > 0
    assert (counts["expected"], counts["delivered"], counts["lost"]) == (0, 0, 0)


def test_a_garbled_token_is_malformed_for_that_client_only(project, daphne, tmp_path):
    matrix = 'protocol = "ownproto:Odd"\nmode = "open"\nrate = 10.0\n'
    result = run(project, tmp_path, matrix, "--target", f"ws://127.0.0.1:{daphne}")
    counts = ok_counts(result["points"][0])
    assert counts["malformed"] == 1  # client 0's first reply; it is dropped
    assert counts["delivered"] > 0 and counts["connected"] == 4


@pytest.mark.parametrize("protocol", ["Binary", "Joined"])
def test_binary_frames_and_hello_frames(project, daphne, tmp_path, protocol):
    """Binary frames reach token() as bytes; hello() frames go out before the load (the
    Joined consumer answers nothing until a client has joined)."""
    result = run(
        project,
        tmp_path,
        f'protocol = "ownproto:{protocol}"\n',
        "--target",
        f"ws://127.0.0.1:{daphne}",
    )
    counts = ok_counts(result["points"][0])
    assert counts["delivered"] == counts["expected"] == counts["sent_measured"] > 0
    assert counts["malformed"] == 0


def test_a_site_that_wants_a_login_connects_with_the_session_cookie(project, daphne, tmp_path):
    matrix = 'protocol = "ownproto:Private"\n'
    result = run(project, tmp_path, matrix, "--target", f"ws://127.0.0.1:{daphne}")
    counts = ok_counts(result["points"][0])
    assert counts["connected"] == 4 and counts["delivered"] == counts["expected"] > 0


def test_without_the_cookie_the_refusal_names_the_status(project, daphne, tmp_path, capsys):
    scenario = project / f"{tmp_path.name}.toml"
    scenario.write_text(f'name = "own"\n[matrix]\nprotocol = "ownproto:Odd"\n{LOAD}')
    target = f"ws://127.0.0.1:{daphne}/ws/private/{{room}}/"
    code = main(["run", str(scenario), "--target", target, "--results-dir", str(tmp_path)])
    assert code == 2
    assert "HTTP 403" in one_error_line(capsys)
