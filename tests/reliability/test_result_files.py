"""Case 4: bad result files are one-line errors in ``report`` and ``compare``, and a
write that fails halfway never leaves a half-written file.

The one home of bad result files: ``store.read`` on each kind of bad file, then each
through ``report`` and both sides of ``compare`` (one line on stderr, nothing on stdout,
exit 2, no report written).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace

import pytest

from bench.cli import main
from bench.errors import UserError
from bench.results import store
from bench.results.model import PointResult, Repeat, Run

GOOD = {
    "schema_version": store.SCHEMA_VERSION,
    "points": [{"id": "x", "point": {}, "repeats": []}],
}
GOOD_RUN = Run.from_json(GOOD)
VALID_TEXT = json.dumps({**GOOD, "environment": {"host": "h"}, "scenario": {"name": "s"}}, indent=1)

BAD_FILES: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "empty file, not a chanbench result"),
    "blank": (b"  \n\n", "empty file, not a chanbench result"),
    "truncated": (VALID_TEXT[: len(VALID_TEXT) // 2].encode(), "not valid JSON (truncated"),
    "corrupt-json": (b'{"schema_version": 1, "points": [,]}', "not valid JSON"),
    "not-utf8": (b"\xff\xfe\x00garbage", "cannot read"),
    "json-list": (b"[1, 2, 3]", "not a chanbench result (no schema_version)"),
    "no-schema": (b'{"points": [{}]}', "not a chanbench result (no schema_version)"),
    "newer-schema": (
        json.dumps({**GOOD, "schema_version": store.SCHEMA_VERSION + 1}).encode(),
        f"written by a newer chanbench (schema {store.SCHEMA_VERSION + 1}",
    ),
    "no-points": (json.dumps({**GOOD, "points": []}).encode(), "the result has no points"),
}


def write_bad(tmp_path, case: str):
    data, _ = BAD_FILES[case]
    path = tmp_path / f"{case}.json"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_store_read_rejects_in_one_line(tmp_path, case):
    path = write_bad(tmp_path, case)
    with pytest.raises(UserError) as info:
        store.read(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and BAD_FILES[case][1] in message
    assert "\n" not in message


def test_store_read_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such result file"):
        store.read(tmp_path / "missing.json")


@pytest.mark.parametrize("case", sorted(BAD_FILES))
@pytest.mark.parametrize("command", ["report", "compare-base", "compare-new"])
def test_report_and_compare_reject_in_one_line(tmp_path, capsys, command, case):
    bad = write_bad(tmp_path, case)
    good = tmp_path / "good.json"
    good.write_text(VALID_TEXT)
    argv = {
        "report": ["report", str(bad), "-o", str(tmp_path / "report")],
        "compare-base": ["compare", str(bad), str(good)],
        "compare-new": ["compare", str(good), str(bad)],
    }[command]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"chanbench: error: {bad}: ") and err.count("\n") == 1, err
    assert BAD_FILES[case][1] in err
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("command", ["report", "compare-base", "compare-new"])
def test_report_and_compare_name_a_missing_file(tmp_path, capsys, command):
    missing = tmp_path / "nope.json"
    good = tmp_path / "good.json"
    good.write_text(VALID_TEXT)
    argv = {
        "report": ["report", str(missing), "-o", str(tmp_path / "report")],
        "compare-base": ["compare", str(missing), str(good)],
        "compare-new": ["compare", str(good), str(missing)],
    }[command]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"chanbench: error: {missing}: no such result file\n"
    assert not (tmp_path / "report").exists()


class Unencodable:
    """Not JSON: ``json.dump`` fails on it after writing the keys before it."""


@pytest.mark.parametrize(
    "poison",
    [
        pytest.param(Unencodable(), id="unencodable-object"),
        pytest.param(math.nan, id="nan"),
    ],
)
def test_failed_write_keeps_the_old_file(tmp_path, poison):
    path = tmp_path / "result.json"
    store.write(path, GOOD_RUN)
    before = path.read_bytes()
    half = Run(
        points=[PointResult(id="p" * 10_000)] * 50
        + [PointResult(repeats=[Repeat(0, latency_ms={"p50": poison})])]
    )
    with pytest.raises((TypeError, ValueError)):
        store.write(path, half)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]  # no temp file


def test_interrupt_during_write_keeps_the_old_file(tmp_path, monkeypatch):
    """Ctrl-C (or SIGTERM) after the new contents are written but before the rename."""
    path = tmp_path / "result.json"
    store.write(path, GOOD_RUN)
    before = path.read_bytes()

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.write(path, replace(GOOD_RUN, partial=False))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_first_write_that_fails_leaves_nothing(tmp_path):
    path = tmp_path / "new.json"
    with pytest.raises(TypeError):
        store.write(
            path, Run(points=[PointResult(repeats=[Repeat(0, latency_ms={"p50": Unencodable()})])])
        )
    assert list(tmp_path.iterdir()) == []
