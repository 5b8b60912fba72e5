"""Issue 17, section 3: a corrupt result is never a verdict.

A result file whose values do not fit the model (garbage points, a string where a number
was measured, a string schema_version) is refused by ``report`` and by both sides of
``compare`` in one line naming the file and the first wrong field, exit 2, with no table
and no verdict on stdout; ``compare`` given one file twice, or ``--between`` with one
value twice or a key that is not one, is one line too. Every committed result still reads.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from helpers import one_error_line

from bench.cli import main
from bench.errors import UserError
from bench.results import store

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "tests" / "data" / "quick_small.json"  # schema 1: migrated, then checked
COMMITTED = sorted(REPO.glob("results/2026-*/*.json")) + sorted(REPO.glob("tests/data/*.json"))


def _set(path: list[str | int], value: object):
    def corrupt(data: dict) -> None:
        *parents, last = path
        for step in parents:
            data = data[step]
        data[last] = value

    return corrupt


# case: (how to corrupt quick_small.json, a field path the error must name)
CORRUPTIONS = {
    "garbage-points": (_set(["points"], [{"foo": 1}]), "points[0]"),
    "points-not-objects": (_set(["points"], [1, 2]), "points[0]"),
    "points-not-a-list": (_set(["points"], {"a": 1}), "points"),
    "throughput-string": (_set(["points", 1, "repeats", 0, "throughput"], "fast"), "throughput"),
    "delivered-string": (
        _set(["points", 0, "repeats", 2, "throughput", "delivered_per_s"], "fast"),
        "points[0].repeats[2].throughput.delivered_per_s",
    ),
    "count-float-string": (_set(["points", 0, "repeats", 0, "counts", "sent"], "9"), "sent"),
    "clients-null": (_set(["points", 0, "params", "clients"], None), "clients"),
    "bool-as-number": (_set(["points", 0, "repeats", 0, "loss_ratio"], True), "loss_ratio"),
    "latency-list": (_set(["points", 0, "repeats", 0, "latency_ms"], [1, 2]), "latency_ms"),
    "repeat-missing-number": (_set(["points", 0, "repeats", 0], {"status": "ok"}), "repeat"),
    "scenario-list": (_set(["scenario"], [1]), "scenario"),
    "schema-string": (_set(["schema_version"], "1"), "schema_version"),
    "schema-zero": (_set(["schema_version"], 0), "schema_version"),
}


@pytest.fixture(params=sorted(CORRUPTIONS))
def corrupt(request, tmp_path) -> tuple[Path, str]:
    corrupt_it, field = CORRUPTIONS[request.param]
    data = copy.deepcopy(json.loads(SMALL.read_text()))
    corrupt_it(data)
    path = tmp_path / f"{request.param}.json"
    path.write_text(json.dumps(data))
    return path, field


def test_store_refuses_naming_the_file_and_field(corrupt):
    path, field = corrupt
    with pytest.raises(UserError) as info:
        store.read(path)
    message = str(info.value)
    assert str(path) in message and field in message and "\n" not in message


@pytest.mark.parametrize("side", ["report", "compare-base", "compare-new", "between"])
def test_no_verdict_from_a_corrupt_result(corrupt, tmp_path, capsys, side):
    path, field = corrupt
    out_dir = tmp_path / "report"
    argv = {
        "report": ["report", str(path), "-o", str(out_dir)],
        "compare-base": ["compare", str(path), str(SMALL)],
        "compare-new": ["compare", str(SMALL), str(path)],
        "between": ["compare", str(path), "--between", "consumer=sync,async"],
    }[side]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "", "printed a table or a verdict"
    assert err.startswith("chanbench: error: ") and err.count("\n") == 1, err
    assert str(path) in err and field in err
    assert not out_dir.exists()


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name[:40])
def test_every_committed_result_still_reads(path):
    run = store.read(path)
    assert run.points and all(p.id and p.repeats for p in run.points)


def test_the_same_file_twice_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    relative = SMALL.relative_to(REPO)
    assert main(["compare", str(SMALL), str(relative)]) == 2
    assert str(relative) in one_error_line(capsys)


@pytest.mark.parametrize(
    "between", ["consumer=sync,sync", "foo=a,b", "consumer=sync,consumer=sync"]
)
def test_bad_between_is_one_line(capsys, between):
    assert main(["compare", str(SMALL), "--between", between]) == 2
    assert between in one_error_line(capsys)
