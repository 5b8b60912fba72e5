"""What several test folders share: the tiny scenario, the one-line error check, the
headless Chromium options, and a result's repeats scaled to a known verdict, multiplied,
or measured in several environments.

Importable as ``helpers`` from every test module: ``tests/`` has no ``__init__.py``, so
pytest's (default, "prepend") import mode puts ``tests/`` on ``sys.path`` when it loads
``tests/conftest.py``, before any test module is imported. Nothing here is a fixture and
nothing starts a process; Selenium is imported only by ``chromium_options``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver import ChromeOptions

# Two points (sync, async), a few seconds: every run with it is about the harness's
# behaviour, never about speed.
TINY = """
name = "tiny"
description = "two points, a few seconds"
[matrix]
consumer = ["sync", "async"]
layer = "memory"
clients = 4
rooms = 2
mode = "closed"
warmup_s = 0.3
duration_s = 1.0
drain_quiet_s = 0.3
repeats = 1
"""

# The load of the end-to-end runs that check what a server delivers, matrix lines to add
# under a point's own keys: 4 clients in 2 rooms, open loop, 5 messages/s each, 1 s.
TINY_OPEN_LOAD = """clients = 4
rooms = 2
mode = "open"
rate = 5.0
warmup_s = 0.3
duration_s = 1.0
drain_quiet_s = 0.3
"""


def chat_frame(sender: int, seq: int, sent_ns: int, phase: str, padding: str = "x") -> str:
    """The frame a chat client sends for this message: the default protocol's message with
    chanbench's token in it."""
    from bench.protocols import make_token
    from bench.protocols.chat import Chat

    return Chat().message(make_token(sender, seq, sent_ns, phase, padding))


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """What the command printed to stderr, checked to be one ``chanbench: error:`` line."""
    err = capsys.readouterr().err
    assert err.startswith("chanbench: error: "), err
    assert err.count("\n") == 1, err
    return err


# Debian's Chromium and its driver (scripts/test installs them), so that Selenium Manager
# never downloads anything.
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_options(profile: Path) -> ChromeOptions:
    """Headless Chromium at ``CHROMIUM`` with ``CHROMIUM_ARGS`` and its own profile
    directory ``profile`` (a test can find its processes by it)."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (*CHROMIUM_ARGS, f"--user-data-dir={profile}"):
        options.add_argument(arg)
    return options


def scale_repeat(rep: dict, factors: dict[str, float]) -> None:
    """Multiply each metric of a repeat (as JSON) by its factor, where it has a value; a
    count (threads) stays a whole number, as a result file holds it.

    A stored value is scaled once, by its first metric, however many metrics read it
    (``p99_ms`` and ``p99_delivered_ms`` both read ``latency_ms.p99``)."""
    from bench.results.metrics import METRICS

    scaled: set[tuple[str, ...]] = set()
    for metric, factor in factors.items():
        if METRICS[metric].path in scaled:
            continue
        scaled.add(METRICS[metric].path)
        *parents, leaf = METRICS[metric].path
        holder = rep
        for key in parents:
            holder = holder.get(key) or {}
        value = holder.get(leaf)
        if value is not None:
            holder[leaf] = round(value * factor) if isinstance(value, int) else value * factor


def raw(point: dict, *path: str) -> list[float]:
    """The values at ``path`` of a point's successful repeats, as the JSON file has them."""
    values = []
    for rep in point["repeats"]:
        if rep["status"] == "ok":
            value = rep
            for key in path:
                value = value[key]
            values.append(value)
    return values


def run_matrix(tmp_path: Path, matrix: str, *args: str, head: str = "") -> tuple[int, dict]:
    """``chanbench run`` (in-process, no calibration) of a scenario whose ``[matrix]`` is
    ``matrix`` (TOML lines), after the tables in ``head``; its exit code and its one
    result file."""
    import json

    from bench.cli import main

    path = tmp_path / "scenario.toml"
    path.write_text(f'name = "{tmp_path.name}"\n{head}\n[matrix]\n{matrix}')
    results = tmp_path / "results"
    code = main(["run", str(path), "--results-dir", str(results), "--no-calibrate", *args])
    (file,) = sorted(results.glob("*.json"))
    return code, json.loads(file.read_text())


def with_repeats(result: dict, count: int) -> dict:
    """Each point with ``count`` ok repeats: the real ones cycled, each copy nudged by
    0.1% so that no two values tie."""
    from bench.results.metrics import METRICS

    out = copy.deepcopy(result)
    for point in out["points"]:
        real = [r for r in point["repeats"] if r["status"] == "ok"]
        reps = []
        for i in range(count):
            rep = copy.deepcopy(real[i % len(real)])
            rep["repeat"] = i
            scale_repeat(rep, dict.fromkeys(METRICS, 1 + 0.001 * i))
            reps.append(rep)
        point["repeats"] = reps
    return out


def with_envs(result: dict, software: dict[str, dict]) -> dict:
    """Each point twice, once per environment, with the software its server reported."""
    out = copy.deepcopy(result)
    points = []
    for env, found in software.items():
        for point in copy.deepcopy(result["points"]):
            point["params"]["env"] = env
            point["label"] += f" env={env}"
            point["software"] = found
            points.append(point)
    out["points"] = points
    return out
