"""Where servers listen and clients connect (``--bind``, ``--advertise``): a bad address is
one line and exit 2, before anything starts."""

import pytest
from helpers import one_error_line

from bench.cli import main
from bench.deploy.listen import Listen, listen_for

SCENARIO = 'name = "listen"\n[matrix]\nclients = 2\n'


@pytest.fixture
def scenario(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    return path


def test_the_pair_as_checked():
    assert listen_for(None, None, "s") == Listen("127.0.0.1", None)
    assert listen_for("[::1]", None, "s").host == "::1"
    wild = listen_for("0.0.0.0", "loadtest.example", "s")
    assert wild.host == "loadtest.example" and not wild.loopback
    assert listen_for("127.0.0.2", None, "s").loopback


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--bind", "localhost"], "not an IP address"),
        (["--bind", "0.0.0.0"], "set advertise"),
        (["--bind", "::"], "set advertise"),
        # TEST-NET-1 (RFC 5737): never an address of this machine.
        (["--bind", "192.0.2.1"], "cannot listen there"),
        (["--advertise", "no such host!"], "advertise = 'no such host!'"),
        (["--bind", "127.0.0.1", "--target", "ws://127.0.0.1:1/"], "--bind with --target"),
    ],
)
def test_a_bad_address_is_one_line(tmp_path, scenario, capsys, args, said):
    code = main(["run", str(scenario), "--results-dir", str(tmp_path / "r"), *args])
    assert code == 2
    assert said in one_error_line(capsys)


def test_the_scenarios_keys_are_checked_too(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text('bind = "my-laptop"\n' + SCENARIO)
    assert main(["run", str(path), "--results-dir", str(tmp_path / "r")]) == 2
    assert "bind = 'my-laptop': not an IP address" in one_error_line(capsys)
