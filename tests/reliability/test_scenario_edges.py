"""Issue 17, section 4: scenario files that would run the defaults, or print what the
terminal obeys, are refused in one line (exit 2) before anything starts or is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import one_error_line

from bench.cli import main
from bench.loadgen.pool import CLIENTS_PER_PROCESS
from bench.run.preflight import usable_cores
from bench.scenario import load

from .conftest import result_files, scenario_text, write_scenario

REPO = Path(__file__).resolve().parents[2]

EDGES = {
    "zero-bytes": "",
    "blank": "\n\n  \n",
    "comments-only": "# nothing here\n",
    "no-matrix": 'name = "x"\ndescription = "y"\n',
    "empty-matrix": 'name = "x"\n[matrix]\n',
    "escape-in-name": 'name = "\\u001b[2J\\u001b[31mred"\n[matrix]\nclients = 2\n',
    "newline-in-name": 'name = "a\\nb"\n[matrix]\nclients = 2\n',
    "empty-name": 'name = ""\n[matrix]\nclients = 2\n',
    "blank-name": 'name = "   "\n[matrix]\nclients = 2\n',
    "bell-in-description": 'name = "x"\ndescription = "\\u0007"\n[matrix]\nclients = 2\n',
}


@pytest.mark.parametrize("case", sorted(EDGES))
def test_refused_in_one_line(tmp_path, capsys, nothing_started, case):
    path = write_scenario(tmp_path, EDGES[case])
    results = tmp_path / "results"
    assert main(["run", str(path), "--no-calibrate", "--results-dir", str(results)]) == 2
    err = one_error_line(capsys)
    assert str(path) in err
    assert "\x1b" not in err and "\x07" not in err
    assert not result_files(results)


@pytest.mark.parametrize("path", sorted(REPO.glob("scenarios/*.toml")), ids=lambda p: p.name)
def test_shipped_scenarios_still_load(path):
    assert load(path).points()


def test_more_clients_than_the_machine_holds(tmp_path, capsys, nothing_started):
    """``--set clients=19000`` on a small machine: refused before anything starts, with the
    limit, rather than failing every repeat after the connect budget."""
    too_many = (usable_cores() + 1) * CLIENTS_PER_PROCESS
    path = write_scenario(tmp_path, scenario_text())
    results = tmp_path / "results"
    argv = ["run", str(path), "--set", f"clients={too_many}", "--results-dir", str(results)]
    assert main([*argv, "--no-calibrate"]) == 2
    err = one_error_line(capsys)
    assert str(too_many) in err
    assert not result_files(results)
