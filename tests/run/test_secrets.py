"""A password in a Redis URL never appears in what chanbench prints or writes."""

import subprocess

import pytest
from helpers import TINY

from bench.cli import main
from bench.deploy.processes import free_port, start_process, stop_process
from bench.deploy.redis_server import find_redis_server, ping

PASSWORD = "s3cret-Pa55"


@pytest.fixture
def redis_with_password(tmp_path):
    """A private redis-server that requires ``PASSWORD``; its URL."""
    port = free_port()
    argv = [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    proc = start_process([*argv, "--requirepass", PASSWORD])
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    try:
        for _ in range(200):  # bounded: 10 s
            try:
                ping(url)
                break
            except Exception:
                subprocess.run(["sleep", "0.05"], check=True)
        yield url
    finally:
        stop_process(proc)


def test_password_is_masked_in_output_and_result(tmp_path, capsys, redis_with_password):
    scenario = tmp_path / "s.toml"
    scenario.write_text(TINY.replace('layer = "memory"', 'layer = "redis"'))
    results = tmp_path / "results"
    code = main(
        [
            "run",
            str(scenario),
            "--no-calibrate",
            "--results-dir",
            str(results),
            "--redis-url",
            redis_with_password,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert PASSWORD not in out + err
    written = [
        p for p in results.rglob("*") if p.is_file() and p.suffix in (".json", ".md", ".html")
    ]
    assert written
    for path in written:
        assert PASSWORD not in path.read_text(), path
    (result,) = results.glob("*.json")
    assert ":***@127.0.0.1" in result.read_text()  # the command line, masked


def test_password_is_masked_in_errors(tmp_path, capsys, monkeypatch):
    scenario = tmp_path / "s.toml"
    scenario.write_text(TINY.replace('layer = "memory"', 'layer = "redis"'))
    monkeypatch.setenv("REDIS_URL", f"redis://user:{PASSWORD}@127.0.0.1:{free_port()}/0")
    assert main(["run", str(scenario), "--no-calibrate", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chanbench: error: Redis at redis://user:***@127.0.0.1:")
    assert PASSWORD not in err
