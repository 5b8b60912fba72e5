"""Environments: which release changed what.

A run whose ``env`` key names several Python environments (Channels, Daphne or asgiref
releases, or a base and a change) measured them interleaved. Here each environment is
set against the one before it in the scenario's order, point by point (the same consumer
at the same load), with the verdict ``chanbench compare --between env=A,B`` would give,
the CPU that explains it, and the versions that differ between the two servers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from bench.judge import significance, stats
from bench.report.summary import judge_pair, verdict_word
from bench.report.workloads import cpu_split, point_key
from bench.results.model import PointResult, Run, varying_keys
from bench.results.units import num

HEADERS = [
    "point",
    "from -> to",
    "msg/s from -> to",
    "ratio",
    "p99 ms from -> to",
    "verdict",
    "CPU from: loop + other",
    "CPU to: loop + other",
    "what changed",
]

CAPTION = (
    "Each environment against the one before it in the scenario's env list, at the same "
    "consumer and load; medians over repeats, repeats interleaved across environments. "
    "The verdict is chanbench compare's rule (throughput in closed loop, p99 in open loop: "
    "10% and a Mann-Whitney U test at p < 0.05), not corrected for the number of steps; "
    "chanbench compare RESULT --between env=A,B corrects over its own tests. CPU is % of "
    "one core: the event loop's thread plus every other thread (asgiref's thread-sensitive "
    "executor runs every sync_to_async hop). What changed: the versions each server's "
    "interpreter reported."
)


def _env_order(run: Run) -> list[str]:
    """The environments in the scenario's order (the order they were listed in)."""
    listed = [str(v) for v in run.scenario.matrix.get("env") or []]
    seen = [p.point.env for p in run.points]
    return list(dict.fromkeys([*listed, *seen]))


@dataclass(frozen=True)
class Step:
    """One point (``name``: its consumer and the keys beside env that vary) measured
    in one environment (``before``) and the next (``after``), and the verdict."""

    name: str
    before: PointResult
    after: PointResult
    judgement: significance.Judgement


def steps(run: Run) -> list[Step]:
    """Each point against the same point one environment on, in the scenario's order."""
    order = _env_order(run)
    if len(order) < 2:
        return []
    varying = varying_keys([p.point for p in run.points], exclude=("env", "consumer"))
    by_env: dict[str, dict[tuple[Any, ...], PointResult]] = {}
    for point in run.points:
        key = point_key(point, lambda k: k in ("env", "repeats"))
        by_env.setdefault(point.point.env, {})[key] = point
    found = []
    for before_env, after_env in itertools.pairwise(order):
        before, after = by_env.get(before_env, {}), by_env.get(after_env, {})
        for key, point in before.items():
            if key in after:
                name = " ".join(
                    [
                        point.point.consumer,
                        *(f"{k}={point.point.value(k)}" for k in varying),
                    ]
                )
                found.append(Step(name, point, after[key], judge_pair(point, after[key])[1]))
    return found


def table(run: Run) -> tuple[list[str], list[list[str]]] | None:
    """The rows of the environments table, or None for a run of one environment."""
    rows = []
    for step in steps(run):
        before, after, p = step.before, step.after, step.judgement.p
        rows.append(
            [
                step.name,
                f"{before.point.env} -> {after.point.env}",
                f"{num(before.median('delivered_per_s'))} -> "
                f"{num(after.median('delivered_per_s'))}",
                _ratio(before, after),
                f"{num(before.median('p99_ms'), '.1f')} -> {num(after.median('p99_ms'), '.1f')}",
                verdict_word(step.judgement, "better", "worse")
                + (f" (p = {p:.3f})" if p is not None else ""),
                cpu_split(before),
                cpu_split(after),
                ", ".join(before.version_changes(after)) or "no version",
            ]
        )
    return (HEADERS, rows) if rows else None


def answer(run: Run) -> str | None:
    """Per point (consumer and load), the steps with a verdict of better or worse, or
    that none had one."""
    found = steps(run)
    if not found:
        return None
    moved: dict[str, list[str]] = {step.name: [] for step in found}
    for step in found:
        if step.judgement.verdict in (significance.BETTER, significance.WORSE):
            moved[step.name].append(
                f"{step.before.point.env} -> {step.after.point.env} "
                f"{verdict_word(step.judgement, 'better', 'worse')} "
                f"({_ratio(step.before, step.after)} the messages/s)"
            )
    said = [
        f"{name}: " + ("; ".join(m) if m else "no step better or worse")
        for name, m in moved.items()
    ]
    return "Steps with a verdict: " + ". ".join(said) + "."


def _ratio(before: PointResult, after: PointResult) -> str:
    """``0.46x``: what ``after`` delivered per second over what ``before`` did."""
    return num(
        stats.ratio(after.median("delivered_per_s"), before.median("delivered_per_s")), ".2f", "x"
    )
