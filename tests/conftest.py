"""Shared set-up: the chat site importable in-process, a real Redis, the layer settings.

Nothing here is mocked. In-process tests run the site's ASGI application under Django
settings from ``consumers/mysite``; the Redis layers talk to a real redis-server (a
private one on a free loopback port, or the one ``$REDIS_URL`` names).
"""

from __future__ import annotations

import multiprocessing.process
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import django
import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
CONSUMERS_DIR = REPO_DIR / "consumers"

if str(CONSUMERS_DIR) not in sys.path:
    sys.path.insert(0, str(CONSUMERS_DIR))
os.environ["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
django.setup()

from mysite.layers import channel_layer_settings  # noqa: E402

from bench.deploy.redis_server import flush, redis_for  # noqa: E402

TESTS_DIR = REPO_DIR / "tests"
# Each folder of tests is one kind, a pytest marker: ``pytest -m unit`` runs the pure
# tests alone (seconds), ``-m "not browser"`` skips Chromium, and so on.
KINDS = {
    "bench": "unit",
    "compare": "unit",
    "report": "unit",
    "consumers": "e2e",
    "e2e": "e2e",
    "run": "e2e",
    "browser": "browser",
    "reliability": "reliability",
}


# Unit tests start no process (a server, a redis-server, a client worker, a subprocess):
# while one runs, fixtures included, starting one fails it. Audit events catch
# subprocess, fork and exec; multiprocessing's spawn raises none, so its start is checked.
PROCESS_EVENTS = {"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.system"}
_unit_running = False


class ProcessInUnitTest(RuntimeError):
    pass


def _refuse(what: str) -> None:
    if _unit_running:
        raise ProcessInUnitTest(f"a unit test started a process ({what}); move it out of unit")


sys.addaudithook(lambda event, _args: _refuse(event) if event in PROCESS_EVENTS else None)
_process_start = multiprocessing.process.BaseProcess.start


def _checked_start(self: multiprocessing.process.BaseProcess) -> None:
    _refuse("multiprocessing")
    _process_start(self)


multiprocessing.process.BaseProcess.start = _checked_start  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    global _unit_running
    _unit_running = item.get_closest_marker("unit") is not None
    try:
        return (yield)
    finally:
        _unit_running = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its folder's kind; a folder with no kind is an error."""
    for item in items:
        folder = item.path.relative_to(TESTS_DIR).parts[0]
        kind = KINDS.get(folder)
        if kind is None:
            raise pytest.UsageError(
                f"{item.nodeid}: tests/{folder}/ has no kind; add it to KINDS in tests/conftest.py"
            )
        item.add_marker(kind)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: ``$REDIS_URL`` when set (checked), else a private redis-server.

    Never skipped: without a redis-server binary this fails with the reason. Tests flush
    the Redis they use, so a ``$REDIS_URL`` must name a disposable database.
    """
    log_path = tmp_path_factory.mktemp("redis") / "redis-server.log"
    with redis_for(os.environ.get("REDIS_URL"), log_path) as redis:
        yield redis.url


def layer_settings(layer: str, redis_url: str | None = None) -> dict[str, Any]:
    """The ``CHANNEL_LAYERS["default"]`` entry the site builds for ``layer``."""
    env = {"CHANBENCH_LAYER": layer}
    if redis_url is not None:
        env["CHANBENCH_REDIS_URL"] = redis_url
    return channel_layer_settings(env)


@pytest.fixture
def layer_config(request: pytest.FixtureRequest) -> Callable[[str], dict[str, Any]]:
    """``layer_config(layer)``: the layer's settings; Redis layers get a flushed Redis.

    The Redis fixture is only requested (and so only started) for the Redis layers, and
    it is flushed before and after the test, so that no group outlives its test.
    """
    flushed: list[str] = []

    def build(layer: str) -> dict[str, Any]:
        if layer == "memory":
            return layer_settings(layer)
        url = request.getfixturevalue("redis_url")
        if url not in flushed:
            flush(url)
            flushed.append(url)
            request.addfinalizer(lambda: flush(url))
        return layer_settings(layer, url)

    return build
