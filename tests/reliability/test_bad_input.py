"""Case 1: bad scenario files and command lines are one line, exit 2, and start nothing.

Here through ``chanbench run``, the command line's side. What ``bench.scenario`` says
about each bad value is checked once, beside it, in tests/bench/test_scenario.py
(``test_bad_scenarios_are_one_line_errors``: bad TOML, a key outside ``[matrix]``, wrong
types, fractions, zero and negative counts, an unknown consumer, a negative duration, an
empty list; ``test_bad_override_names_the_key``: ``--set clinets=5``, ``--set
clients=0``). The cases below are the ones that test does not hold: a check made after
the scenario loads (the message size, in the runner's preflight), and words of the
message it does not assert; each also proves, for its stage of the checks, that the
command prints one line, exits 2, writes no result and starts no process.
"""

from __future__ import annotations

import pytest
from helpers import TINY, one_error_line

from bench.cli import main

from .conftest import result_files, scenario_text, write_scenario

BAD_SCENARIOS = {
    # Key check: the list of known keys.
    "unknown-key": (
        "[matrix]\nclinets = 4\n",
        ["unknown key 'clinets'", "did you mean 'clients'?", "known keys:"],
    ),
    # Cross-key check: what to do about it.
    "more-rooms-than-clients": (
        scenario_text(rooms=5),
        ["rooms = 5 with clients = 4", "use fewer rooms"],
    ),
    # Value check: the whole list of layers.
    "unknown-layer": (
        scenario_text(layer="postgres"),
        ["layer = 'postgres'", "must be one of memory, redis, redis-pubsub"],
    ),
    # The runner's preflight, after the scenario loaded.
    "message-over-daphne-limit": (
        scenario_text(message_bytes=2_000_000),
        ["message_bytes = 2000000", "over 1 MiB", "at most"],
    ),
}


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
