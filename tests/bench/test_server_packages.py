"""Each server kind declares its packages once: pyproject.toml asks the same minimum,
environments install them (a pin of the environment's own wins), and the cache key
follows them. Pure: nothing is installed or started."""

import tomllib
from pathlib import Path

from bench.deploy import environments
from bench.deploy.servers import SERVERS
from bench.deploy.software import requirement_name
from bench.scenario import CustomEnv

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_every_kind_declares_what_pyproject_installs():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    offered = {*project["dependencies"], *project["optional-dependencies"]["servers"]}
    for kind, server in SERVERS.items():
        assert server.packages, kind
        assert any(p.name == kind for p in server.packages), kind
        for package in server.packages:
            # A bare name (twisted: Daphne's own dependency) or pyproject's very minimum.
            assert package.requirement == package.name or package.requirement in offered


def test_an_environment_installs_its_kinds_packages():
    env = CustomEnv(requirements=("channels==4.1.0",))
    assert "uvicorn>=0.30" not in environments.installs(env, {"daphne"})
    installed = environments.installs(env, {"daphne", "uvicorn"})
    assert "uvicorn>=0.30" in installed and "websockets>=13" in installed
    assert installed[-1] == "channels==4.1.0"
    assert environments.env_key(env, {"daphne"}) != environments.env_key(env, {"uvicorn"})


def test_a_pin_of_the_environment_wins_over_a_declared_minimum():
    env = CustomEnv(requirements=("Uvicorn[standard]==0.29.0",))
    installed = environments.installs(env, {"uvicorn"})
    assert "uvicorn>=0.30" not in installed
    assert "Uvicorn[standard]==0.29.0" in installed
    assert requirement_name("channels_redis>=4") == "channels-redis"
