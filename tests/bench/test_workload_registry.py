"""The workload registry and the server's settings: one entry per workload, one mapping
from the point to the environment the site reads, checked against the site's own source
(read as text: no Django, no process)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bench.deploy.site import CONSUMERS_DIR, POINT_ENVIRON, ServerSettings
from bench.deploy.workloads import SIZE_SETTINGS, WORKLOADS
from bench.errors import UserError
from bench.scenario import KEYS, Point, from_dict

# The names a site from another commit reads: an interface that never changes.
SITE_READS = {
    "CHANBENCH_LAYER",
    "CHANBENCH_LAYER_CAPACITY",
    "CHANBENCH_FAULT_CONSUMERS",
    "CHANBENCH_PROBE",  # mysite/urls.py: the churn probe's route
    "CHANBENCH_WORK_MS",
    "CHANBENCH_WORK_US",
    "CHANBENCH_CONN_MAX_AGE",
    "CHANBENCH_DB_POOL_SIZE",
}


def site_routes() -> dict[str, tuple[str, str]]:
    """``consumers/chat/routing.py``'s WORKLOADS, as dotted class paths."""
    tree = ast.parse((CONSUMERS_DIR / "chat" / "routing.py").read_text())
    table = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "WORKLOADS" for t in node.targets)
    )
    assert isinstance(table, ast.Dict)
    routes = {}
    for key, value in zip(table.keys, table.values, strict=True):
        assert isinstance(key, ast.Constant) and isinstance(value, ast.Tuple)
        pair = tuple(f"chat.{ast.unparse(element)}" for element in value.elts)
        routes[key.value] = (pair[0], pair[1])
    return routes


def test_every_workload_is_routed_to_its_registered_consumers():
    assert site_routes() == {name: w.consumers for name, w in WORKLOADS.items()}


def test_every_consumer_class_exists_in_the_site():
    for workload in WORKLOADS.values():
        for dotted in workload.consumers:
            module, _, name = dotted.rpartition(".")
            source = Path(CONSUMERS_DIR, *module.split(".")).with_suffix(".py").read_text()
            assert f"class {name}(" in source, dotted


def test_size_settings_are_point_keys_the_site_reads():
    site = "".join(p.read_text() for p in CONSUMERS_DIR.rglob("*.py"))
    for key in SIZE_SETTINGS:
        assert key in KEYS
        assert f"CHANBENCH_{key.upper()}" in site, key


def test_the_environment_comes_from_the_point_under_the_old_names():
    assert set(POINT_ENVIRON) == SITE_READS
    point = Point(layer="redis", capacity=7, fault="slow", work_ms=2.5, work_us=300.0)
    env = ServerSettings(point, redis_url="redis://127.0.0.1:1/0").environ()
    assert env["CHANBENCH_LAYER"] == "redis"
    assert env["CHANBENCH_LAYER_CAPACITY"] == "7"
    assert env["CHANBENCH_FAULT_CONSUMERS"] == "1"
    assert env["CHANBENCH_WORK_MS"] == "2.5"
    assert env["CHANBENCH_WORK_US"] == "300"  # as the site's float() reads it, no ".0"
    assert env["CHANBENCH_REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert ServerSettings(Point()).environ()["CHANBENCH_FAULT_CONSUMERS"] == "0"


@pytest.mark.parametrize(
    "workload", [w for w in WORKLOADS.values() if w.databases != ("postgres", "sqlite")]
)
def test_a_workload_refuses_a_database_it_cannot_write_to(workload):
    matrix = {"workload": workload.name, "database": "sqlite"}
    with pytest.raises(UserError, match=f'set database = "{workload.databases[0]}"'):
        from_dict({"matrix": matrix}, "s")
