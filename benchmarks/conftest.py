"""pytest-benchmark suites for chanbench; not tests: ``pytest`` alone never collects them.

    .venv/bin/python -m pytest benchmarks --benchmark-autosave
    .venv/bin/python -m pytest benchmarks --benchmark-compare --benchmark-compare-fail=mean:10%

``test_scenario.py`` measures each point of a scenario (``$CHANBENCH_BENCH_SCENARIO``,
default ``scenarios/quick.toml``) once, against a fresh Daphne, through chanbench's own
runner; ``test_roundtrip.py`` times one chat message's round trip through each consumer
in-process. The chat site is set up here as ``tests/conftest.py`` does.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import django
import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
CONSUMERS_DIR = REPO_DIR / "consumers"
DEFAULT_SCENARIO = REPO_DIR / "scenarios" / "quick.toml"

if str(CONSUMERS_DIR) not in sys.path:
    sys.path.insert(0, str(CONSUMERS_DIR))
os.environ["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
django.setup()

from bench.deploy import redis_server  # noqa: E402
from bench.run import preflight, runner  # noqa: E402
from bench.scenario import Point, Scenario  # noqa: E402
from bench.scenario import load as load_scenario  # noqa: E402


def scenario_path() -> Path:
    return Path(os.environ.get("CHANBENCH_BENCH_SCENARIO") or DEFAULT_SCENARIO)


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return load_scenario(scenario_path())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per point of the scenario, named by the keys that vary in it."""
    if "point" in metafunc.fixturenames:
        loaded = load_scenario(scenario_path())
        points = loaded.points()
        labels = [p.label(loaded.varying()) for p in points]
        metafunc.parametrize(
            ("point", "label"),
            list(zip(points, labels, strict=True)),
            ids=[label.replace(" ", "-") for label in labels],
        )


@pytest.fixture(scope="session")
def run_context(
    scenario: Scenario, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[runner.RunContext]:
    """What ``runner.measure`` needs: paths for logs, and a Redis when a point uses one."""
    work = tmp_path_factory.mktemp("chanbench")
    ctx = runner.RunContext(
        scenario=scenario,
        path=work / "result.json",
        log_dir=work / "logs",
        out=io.StringIO(),
        redis_url=os.environ.get("REDIS_URL"),
    )
    points: list[Point] = scenario.points()
    preflight.check_limits(str(scenario_path()), points)
    with ExitStack() as stack:
        if any(p.layer != "memory" for p in points):
            ctx.redis = stack.enter_context(
                redis_server.redis_for(ctx.redis_url, work / "logs" / "redis.log")
            )
        yield ctx
