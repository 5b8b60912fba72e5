"""Servers on another address than 127.0.0.1 (``--bind``): every server kind listens
there, and only there, and the clients reach it; Linux routes all of 127.0.0.0/8 to
loopback, so 127.0.0.2 is a second address of this machine without any set-up."""

import json
import socket

import pytest
from helpers import TINY_OPEN_LOAD, run_matrix

from bench.deploy.processes import free_port
from bench.deploy.servers import SERVERS, ReferenceServer, server_for
from bench.deploy.site import ServerSettings
from bench.scenario import Point


def refused(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, port)) != 0


@pytest.mark.timeout(240)
def test_every_server_kind_on_another_address_gets_every_message(tmp_path):
    code, result = run_matrix(
        tmp_path,
        f'server = {json.dumps(list(SERVERS))}\nconsumer = "async"\n' + TINY_OPEN_LOAD,
        "--bind",
        "127.0.0.2",
    )
    assert code == 0
    assert result["scenario"]["bind"] == "127.0.0.2"
    for point in result["points"]:
        kind = point["point"]["server"]
        (rep,) = point["repeats"]
        assert rep["status"] == "ok", (kind, rep.get("reason"))
        counts = rep["counts"]
        assert counts["lost"] == 0 and counts["delivered"] == counts["expected"] > 0, kind
        assert any("127.0.0.2" in part for part in point["server_command"]), kind


@pytest.mark.timeout(120)
@pytest.mark.parametrize("host", ["::1", "127.0.0.2"])
def test_listens_on_the_bind_address_alone(tmp_path, host):
    """Daphne under the supervisor (two workers on one socket) and the reference server
    answer a handshake on ``host`` and refuse 127.0.0.1 (or, on ::1, the IPv4 loopback)."""
    try:
        port = free_port(host)
    except OSError:
        pytest.skip(f"{host} is not an address of this machine (no IPv6 loopback)")
    daphne = server_for(
        "daphne", ServerSettings(Point(workers=2)), host, port, tmp_path / "daphne.log"
    )
    with daphne:
        assert daphne.wait_ready("async") < 30
        assert refused("127.0.0.1", port) and not refused(host, port)
    port = free_port(host)
    with ReferenceServer(host, port, tmp_path / "reference.log") as reference:
        reference.wait_ready()
        assert refused("127.0.0.1", port)
