"""Each outcome has its own exit code, and ``--help`` and the README list every one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import ExitCode, UserError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_bad_input_and_not_judged_differ():
    """CI must tell "you typed it wrong" from "the gate could not vouch"."""
    assert UserError("x").exit_code == ExitCode.USER_ERROR == 2
    assert len({int(code) for code in ExitCode}) == len(ExitCode.__members__)
    assert ExitCode.NOT_JUDGED not in (ExitCode.USER_ERROR, ExitCode.REGRESSION)


def test_help_lists_every_exit_code_once(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    listed = out[out.index("exit codes:") :]
    for code in ExitCode:
        assert len(re.findall(rf"^\s+{int(code)}\s", listed, re.MULTILINE)) == 1, code
        assert code.meaning[:30] in " ".join(listed.split()), code


def test_readme_table_lists_every_exit_code_once():
    rows = re.findall(r"^\| `?(\d+)`? \|", README.read_text(), re.MULTILINE)
    assert sorted(map(int, rows)) == sorted(int(code) for code in ExitCode)


@pytest.mark.parametrize(
    ("command", "has", "lacks"),
    [
        ("compare", ExitCode.NOT_JUDGED, ExitCode.POINT_FAILED),
        ("run", ExitCode.POINT_FAILED, ExitCode.NOT_JUDGED),
    ],
)
def test_subcommand_help_lists_its_own_exit_codes(capsys, command, has, lacks):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    listed = capsys.readouterr().out.split("exit codes:")[1]
    assert re.search(rf"^\s+{int(has)}\s", listed, re.MULTILINE)
    assert not re.search(rf"^\s+{int(lacks)}\s", listed, re.MULTILINE)
