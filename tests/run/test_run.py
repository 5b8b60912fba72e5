"""End to end: `chanbench run` against a real Daphne with real websocket clients."""

import io
import json
import re
from pathlib import Path

import pytest
from helpers import TINY, one_error_line

from bench.cli import main
from bench.deploy import servers
from bench.deploy.processes import free_port
from bench.deploy.site import ServerSettings
from bench.run import runner
from bench.scenario import Point, Scenario


def run_cli(tmp_path: Path, scenario: str, *args: str) -> tuple[int, dict]:
    path = tmp_path / "scenario.toml"
    path.write_text(scenario)
    results = tmp_path / "results"
    code = main(["run", str(path), "--results-dir", str(results), "--no-calibrate", *args])
    files = sorted(results.glob("*.json"))
    assert len(files) == 1
    return code, json.loads(files[0].read_text())


def test_tiny_run_accounts_for_every_broadcast(tmp_path, capsys):
    code, result = run_cli(tmp_path, TINY)
    assert code == 0
    assert result["partial"] is False
    assert result["environment"]["packages"]["channels"]
    assert {p["point"]["consumer"] for p in result["points"]} == {"sync", "async"}
    for point in result["points"]:
        (rep,) = point["repeats"]
        assert rep["status"] == "ok", rep.get("reason")
        counts = rep["counts"]
        assert counts["connected"] == 4 and counts["connect_failures"] == 0
        assert counts["rooms"] == 2
        # Two members a room: every measured send is due twice, sender included.
        assert counts["expected"] == 2 * counts["sent_measured"] > 0
        assert counts["delivered"] + counts["lost"] == counts["expected"]
        assert counts["lost"] == 0 and counts["duplicated"] == 0
        assert rep["latency_ms"]["count"] == counts["delivered"]
        assert rep["latency_ms"]["p50"] <= rep["latency_ms"]["p99"] <= rep["latency_ms"]["max"]
        assert rep["server"]["threads_min"] >= 1
        assert rep["server"]["samples"] >= 5  # 10 Hz over a 1 s window
        assert (tmp_path / "results" / rep["server_log"]).is_file()
    out = capsys.readouterr().out
    assert "async/sync" in out and "result:" in out


def test_stalled_server_shows_in_open_loop_latency(tmp_path, monkeypatch):
    """A server that blocks its event loop for 500 ms once must show a p99.9 >= 500 ms:
    open-loop latency counts from the intended send time (coordinated omission)."""
    monkeypatch.setenv("CHANBENCH_STALL_MS", "500")
    monkeypatch.setenv("CHANBENCH_STALL_AFTER_S", "1.5")
    scenario = (
        TINY.replace('consumer = ["sync", "async"]', 'consumer = "async"\nfault = "stall"')
        .replace('mode = "closed"', 'mode = "open"\nrate = 20.0')
        .replace("duration_s = 1.0", "duration_s = 3.0")
    )
    code, result = run_cli(tmp_path, scenario, "--set", "warmup_s=0.5")
    assert code == 0
    (rep,) = result["points"][0]["repeats"]
    assert rep["latency_ms"]["p99_9"] >= 500
    assert rep["latency_ms"]["p50"] < 100


def test_target_drives_a_running_server(tmp_path):
    port = free_port()
    settings = ServerSettings(Point())
    with servers.DaphneServer(settings, "127.0.0.1", port, tmp_path / "daphne.log") as daphne:
        daphne.wait_ready()
        code, result = run_cli(
            tmp_path,
            TINY.replace('["sync", "async"]', '"async"'),
            "--target",
            f"ws://127.0.0.1:{port}",
            "--server-pid",
            str(daphne.pid),
        )
    assert code == 0
    assert result["target"] == f"ws://127.0.0.1:{port}"
    (rep,) = result["points"][0]["repeats"]
    assert rep["counts"]["delivered"] == rep["counts"]["expected"] > 0
    assert rep["server"]["pid"] == daphne.pid


def test_calibration_is_the_clients_ceiling(tmp_path):
    """Against the reference server the client is the bottleneck, and the run says so."""
    ctx = runner.RunContext(
        scenario=Scenario(),
        path=tmp_path / "r.json",
        log_dir=tmp_path / "logs",
        out=io.StringIO(),
    )
    point = Point(clients=200, clients_per_room=20, warmup_s=0.5, duration_s=2.0, drain_quiet_s=0.3)
    record = runner.measure(ctx, point, "calibration", 0, reference=True)
    assert record.counts.lost == 0
    # Near a full core, or busier than the server: either way the flag is raised.
    assert any(w.startswith("client saturated") for w in record.warnings)


def test_saturation_search_stops_at_the_first_broken_rate(tmp_path, capsys):
    scenario = TINY.replace('mode = "closed"', 'mode = "open"\nrate = [2.0, 4.0, 8.0]') + (
        "\n[search]\np99_ms = 0.001\nloss = 0.5\n"
    )
    code, result = run_cli(tmp_path, scenario)
    assert code == 0
    # A 1 µs bound breaks at the first rate: the higher rates are never run.
    assert [p["point"]["rate"] for p in result["points"]] == [2.0, 2.0]
    groups = {g["consumer"]: g for g in result["saturation"]["groups"]}
    assert groups["sync"]["highest_rate"] is None and groups["sync"]["broken_at"] == 2.0
    assert "highest sustained rate below the lowest rate tried" in capsys.readouterr().out


def test_compression_is_offered_and_reported_when_declined(tmp_path):
    """compression = true: the clients offer permessage-deflate; Daphne declines it, and
    the result says the frames went uncompressed rather than pretending otherwise."""
    code, result = run_cli(
        tmp_path, TINY.replace('["sync", "async"]', '"async"'), "--set", "compression=true"
    )
    assert code == 0
    (rep,) = result["points"][0]["repeats"]
    assert rep["counts"]["delivered"] == rep["counts"]["expected"] > 0
    assert rep["counts"]["compressed"] == 0
    assert any("negotiated permessage-deflate" in w for w in rep["warnings"])


def test_target_url_with_room_is_kept_as_given(tmp_path, capsys):
    """A route written the tutorial's way (``/$``) needs its trailing slash: a --target
    with {room} and a trailing slash is used exactly as given."""
    port = free_port()
    settings = ServerSettings(Point())
    with servers.DaphneServer(settings, "127.0.0.1", port, tmp_path / "daphne.log") as daphne:
        daphne.wait_ready()
        target = f"ws://127.0.0.1:{port}/ws/async/chat/{{room}}/"
        scenario = TINY.replace('["sync", "async"]', '"async"')
        code, result = run_cli(tmp_path, scenario, "--target", target)
        # Without the slash the route does not match: the pre-flight handshake refuses
        # it in one line naming the status and the URL, before any load.
        bad = target.rstrip("/")
        capsys.readouterr()
        args = ["--results-dir", str(tmp_path / "bad"), "--no-calibrate", "--target", bad]
        bad_code = main(["run", str(tmp_path / "scenario.toml"), *args])
    assert code == 0
    assert result["target"] == target
    (rep,) = result["points"][0]["repeats"]
    assert rep["status"] == "ok"
    assert rep["counts"]["delivered"] == rep["counts"]["expected"] > 0
    assert bad_code == 2
    err = one_error_line(capsys)
    assert re.search(rf"{re.escape(bad.format(room=0))}(?!/).*HTTP \d{{3}}", err)
    assert not (tmp_path / "bad").exists()


def test_repeats_alternate_their_order(tmp_path):
    """ABBA: sync then async at repeat 0, async then sync at repeat 1, so that a drifting
    machine is charged to both sides alike."""
    code, result = run_cli(tmp_path, TINY, "--set", "repeats=2", "--no-report")
    assert code == 0
    started = {
        (p["point"]["consumer"], r["repeat"]): r["started_at"]
        for p in result["points"]
        for r in p["repeats"]
    }
    assert started["sync", 0] < started["async", 0] < started["async", 1] < started["sync", 1]


def test_each_shape_of_load_is_calibrated(tmp_path):
    """The ceiling is measured on each distinct shape (here 4 and 8 clients), and each
    point's share of the ceiling is of its own shape's."""
    path = tmp_path / "scenario.toml"
    path.write_text(TINY.replace('["sync", "async"]', '"async"'))
    results = tmp_path / "results"
    args = ["run", str(path), "--results-dir", str(results), "--no-report"]
    assert main([*args, "--set", "clients=4,8"]) == 0
    (file,) = results.glob("*.json")
    result = json.loads(file.read_text())
    ceilings = {c["point"]["clients"]: c["deliveries_per_s"] for c in result["calibrations"]}
    assert sorted(ceilings) == [4, 8]
    for point in result["points"]:
        (rep,) = point["repeats"]
        ceiling = ceilings[point["point"]["clients"]]
        assert rep["ceiling_fraction"] == pytest.approx(
            rep["throughput"]["delivered_per_s"] / ceiling
        )
