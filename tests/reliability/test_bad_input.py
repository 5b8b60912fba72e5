"""Case 1: bad scenario files and command lines are one line, exit 2, and start nothing."""

from __future__ import annotations

import pytest

from bench.cli import main

from .conftest import TINY, result_files, scenario_text, write_scenario

BAD_SCENARIOS = {
    "toml-syntax": ("[matrix\nclients = 4\n", ["not valid TOML"]),
    "unknown-key": (
        "[matrix]\nclinets = 4\n",
        ["unknown key 'clinets'", "did you mean 'clients'?", "known keys:"],
    ),
    "unknown-top-level-key": ("clients = 4\n", ["'clients'", "put point keys inside [matrix]"]),
    "wrong-type": (scenario_text(clients="four"), ["clients = 'four'", "must be a number"]),
    "fraction-for-int": (scenario_text(clients=2.5), ["clients = 2.5", "whole number"]),
    "zero-clients": (scenario_text(clients=0, rooms=1), ["clients = 0", "must be >= 1"]),
    "negative-clients": (scenario_text(clients=-3, rooms=1), ["clients = -3", "must be >= 1"]),
    "more-rooms-than-clients": (
        scenario_text(rooms=5),
        ["rooms = 5 with clients = 4", "use fewer rooms"],
    ),
    "unknown-layer": (
        scenario_text(layer="postgres"),
        ["layer = 'postgres'", "must be one of memory, redis, redis-pubsub"],
    ),
    "unknown-consumer": (
        scenario_text(consumer="fast"),
        ["consumer = 'fast'", "must be one of sync, async"],
    ),
    "negative-duration": (scenario_text(duration_s=-1), ["duration_s = -1", "must be > 0"]),
    "empty-list": (scenario_text(clients=[]), ["clients = []", "at least one value"]),
    "message-over-daphne-limit": (
        scenario_text(message_bytes=2_000_000),
        ["message_bytes = 2000000", "over 1 MiB", "at most"],
    ),
}


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("chanbench: error: "), err
    assert err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("case", sorted(BAD_SCENARIOS))
def test_bad_scenario_file(tmp_path, capsys, nothing_started, case):
    text, expected = BAD_SCENARIOS[case]
    path = write_scenario(tmp_path, text)
    results = tmp_path / "results"
    assert main(["run", str(path), "--no-calibrate", "--results-dir", str(results)]) == 2
    err = one_error_line(capsys)
    assert str(path) in err
    for part in expected:
        assert part in err
    assert not result_files(results)


def test_missing_scenario_file(tmp_path, capsys, nothing_started):
    path = tmp_path / "nope.toml"
    assert main(["run", str(path), "--results-dir", str(tmp_path / "results")]) == 2
    err = one_error_line(capsys)
    assert f"{path}: no such scenario file" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "clients=0"], ["--set clients", "clients = 0", "must be >= 1"]),
        (["--set", "clinets=5"], ["--set clinets", "unknown key", "did you mean 'clients'?"]),
        (["--set", "layer=mongo"], ["--set layer", "'mongo'", "must be one of"]),
        (["--set", "clients"], ["--set 'clients'", "key=value"]),
        (["--target", "http://127.0.0.1:1"], ["--target 'http://127.0.0.1:1'", "ws://"]),
    ],
)
def test_bad_command_line(tmp_path, capsys, nothing_started, args, expected):
    path = write_scenario(tmp_path, TINY)
    results = tmp_path / "results"
    assert main(["run", str(path), "--results-dir", str(results), *args]) == 2
    err = one_error_line(capsys)
    for part in expected:
        assert part in err
    assert not result_files(results)


def test_unknown_option_is_argparse_usage_error(tmp_path, capsys, nothing_started):
    """argparse's own errors (unknown option, missing value) exit 2 with its usage line."""
    with pytest.raises(SystemExit) as info:
        main(["run", str(write_scenario(tmp_path, TINY)), "--clients", "4"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --clients" in err
