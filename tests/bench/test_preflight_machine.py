"""What the machine can hold, worked out before a run (bench.run.preflight): clients
beyond the local ports or the cores for their client processes are refused in one line
that names the limit."""

from __future__ import annotations

import pytest

from bench.errors import UserError
from bench.loadgen.pool import CLIENTS_PER_PROCESS
from bench.run import preflight
from bench.scenario import Point


def refused(point: Point) -> str:
    with pytest.raises(UserError) as info:
        preflight.check_machine("s.toml", point)
    message = str(info.value)
    assert "\n" not in message and message.startswith("s.toml: ")
    return message


def test_more_connections_than_local_ports(tmp_path, monkeypatch):
    ports = tmp_path / "ip_local_port_range"
    ports.write_text("40000\t42999\n")  # 3,000 ports, 1,000 of them kept for the rest
    monkeypatch.setattr(preflight, "PORT_RANGE", ports)
    monkeypatch.setattr(preflight, "usable_cores", lambda: 64)
    preflight.check_machine("s.toml", Point(clients=2000))
    assert "ip_local_port_range" in refused(Point(clients=2001))
    # The neighbours connect to the same server port.
    assert "40000" in refused(Point(clients=1990, neighbour="sync/chat", neighbour_clients=20))


@pytest.mark.parametrize(("cores", "most"), [(1, 1), (2, 1), (4, 3)])
def test_more_client_processes_than_cores_beside_the_server(monkeypatch, cores, most):
    monkeypatch.setattr(preflight, "local_ports", lambda: None)
    monkeypatch.setattr(preflight, "usable_cores", lambda: cores)
    preflight.check_machine("s.toml", Point(clients=most * CLIENTS_PER_PROCESS))
    message = refused(Point(clients=most * CLIENTS_PER_PROCESS + 1))
    assert f"{most * CLIENTS_PER_PROCESS:,}" in message  # the most this machine can take


def test_this_machine_reads_its_limits():
    low, high = preflight.local_ports() or (0, 1)
    assert 0 < low < high
    assert preflight.usable_cores() >= 1


def test_a_redis_layer_needs_a_file_per_client_and_its_pool(monkeypatch):
    """channels_redis shares its connections: 10,000 clients fit under 20,000 open files
    on every layer; what does not fit is named with the count it needs."""
    monkeypatch.setattr(preflight, "raise_open_file_limit", lambda: (20000, 20000))
    monkeypatch.setattr(preflight, "local_ports", lambda: None)
    monkeypatch.setattr(preflight, "usable_cores", lambda: 64)
    for layer in ("memory", "redis", "redis-pubsub"):
        preflight.check_limits("s.toml", [Point(clients=10000, layer=layer)])
    with pytest.raises(UserError, match="needs about 20064 open files in the server"):
        preflight.check_limits("s.toml", [Point(clients=19936, layer="redis")])
