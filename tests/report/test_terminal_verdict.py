"""The table ``chanbench run`` prints ends with the verdict the report's summary gives,
from the same judgement: one piece of code, never a second opinion."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import summary, tables
from bench.results import store

REPO = Path(__file__).resolve().parents[2]
RESULTS = [
    REPO / "tests" / "data" / "quick_small.json",  # closed loop: uncertain (3 repeats)
    *sorted(REPO.glob("results/2026-11-30/*mode=open*.json")),  # open loop: wins, losses
]
WORDS = ("async wins", "sync wins", "uncertain", "not significant", "not judged", "no data")


def first_word(text: str) -> str:
    return next(w for w in WORDS if text.startswith(w))


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.name[:30])
def test_terminal_verdicts_are_the_summary_s(path):
    run = store.read(path)
    table = tables.run_table(run)
    by_load: dict[str, dict[str, object]] = {}
    for point in run.points:
        load = " ".join(f"{k}={point.point.value(k)}" for k in run.varying if k != "consumer")
        by_load.setdefault(load or "clients=" + str(point.point.clients), {})[
            point.point.consumer
        ] = point
    pairs = {load: p for load, p in by_load.items() if {"sync", "async"} <= p.keys()}
    assert pairs
    for load, pair in pairs.items():
        (line,) = [
            row
            for row in table.splitlines()
            if f" {load}: " in row and any(w in row for w in WORDS)
        ]
        sentence = summary.pair_sentence("here", pair["sync"], pair["async"])
        said = sentence.removeprefix("here: ")
        if said.startswith("no comparable") or said.startswith("no latency verdict"):
            assert first_word(line.split(": ", 1)[1]) in ("no data", "not judged")
        else:
            assert first_word(line.split(": ", 1)[1]) == first_word(said)
