"""How a run was made, as report blocks: the methodology, the exact versions, the
warnings, and the command that reproduces it.

``document`` places these sections after the summary; they read only the result file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from bench.judge import significance, stats
from bench.protocols import DEFAULT_PROTOCOL
from bench.report.blocks import Block, Code, Paragraph, Table
from bench.report.layout import Source, param_values
from bench.results.model import PointResult
from bench.results.units import LOST
from bench.scenario.model import Point, Scenario


def methodology_items(source: Source) -> list[str]:
    run = source.run
    scenario, env = run.scenario, run.environment
    point = run.points[0].point if run.points else Point()
    items = [
        f"Scenario {scenario.name or '?'!r}"
        + (f" ({scenario.path})" if scenario.path else "")
        + (f": {scenario.description}" if scenario.description else ""),
        "Matrix: "
        + "; ".join(
            f"{k} = {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in scenario.matrix.items()
        ),
    ]
    if scenario.overrides:
        items.append(
            "Overridden on the command line: "
            + ", ".join(f"{k}={','.join(map(str, v))}" for k, v in scenario.overrides.items())
        )
    if point.mode == "open":
        load = (
            f"Open loop: each client sends {point.rate} messages/s "
            f"({point.arrival} arrivals) whatever the server does, so latency "
            "includes any queueing."
        )
    else:
        load = (
            "Closed loop: each client sends its next message as soon as its previous one "
            "comes back, so throughput is what the server sustains."
        )
    items.append(load + " " + delivery_words(run.scenario, point))
    if scenario.site is not None:
        site = scenario.site
        items.append(
            f"The site served is the user's own project, {site.dir} (settings "
            f"{site.settings}, application {site.asgi}), with "
            + (
                "chanbench's layer (the layer key) in place of its CHANNEL_LAYERS."
                if "layer" in scenario.matrix
                else "its own CHANNEL_LAYERS."
            )
        )
    server = (
        "the target server, as it runs (not started by chanbench)"
        if run.target
        else f"a fresh server process ({param_values([source], 'server')})"
    )
    items.append(
        f"Phases of every repeat: {server}, "
        f"clients connect, {point.warmup_s} s warm-up (not measured), "
        f"{point.duration_s} s measured, then a drain until every delivery "
        f"owed has arrived (or {point.drain_max_s} s at most; where rooms span "
        f"client processes, a silence of {point.drain_quiet_s} s or 4 times the "
        "p99 so far, whichever is longer) "
        "(lost messages are counted after it)." + ("" if run.target else " " + INTERLEAVING)
    )
    reps = sorted({len(p.repeats) for p in run.points})
    items.append(
        f"Repeats per point: {', '.join(map(str, reps))}. Numbers are medians over "
        "repeats of each repeat's value (a repeat's latency percentiles come from its "
        "client processes' HdrHistograms, merged); chart bars span the minimum to the "
        "maximum; the spectrum charts merge every repeat's histogram. No outlier is "
        "dropped; a repeat that delivered nothing counts, as zero throughput and lost "
        "latency. "
        "Latency percentiles count every expected delivery: a lost message is +inf, so "
        f"a percentile past the delivered fraction reads {LOST}."
        + ("" if run.target else " " + verdict_rule())
    )
    cpu = f"{env.cpu_model or '?'} x {env.cpu_count or '?'}"
    items.append(
        f"Machine: {env.host or '?'}, {cpu}, {env.os or '?'}, "
        f"Python {env.python or '?'}" + (f"; target {run.target}" if run.target else "")
    )
    items.append(f"Started {when(env.started_at)}, finished {when(run.finished_at)}.")
    return items


# Who receives each message, by the protocol's recipients (bench.protocols).
RECIPIENT_WORDS = {
    "room": "Each message is broadcast to every member of the sender's room",
    "sender": "Each message is answered to its sender alone (request/reply: no group "
    "and no broadcast involved), so msg/s counts replies",
    "none": "Each message is owed to nobody (fire-and-forget): sends are counted, "
    "and no latency is measured",
}


def delivery_words(scenario: Scenario, point: Point) -> str:
    """Who receives each message, and in what protocol, as one sentence."""
    if point.protocol == DEFAULT_PROTOCOL:
        return (
            f"{RECIPIENT_WORDS['room']} (the tutorial's chat); latency is measured from "
            "send to each delivery."
        )
    who = RECIPIENT_WORDS.get(scenario.recipients.get(point.protocol, ""), "Each message")
    return (
        f"{who}; the clients speak the user's protocol {point.protocol}, and latency is "
        "measured from the intended send to each reply it owes."
    )


# How sync and async are measured side by side (a --target has one side).
INTERLEAVING = (
    "Sync and async at the same load are measured repeat by repeat in turn, in alternating "
    "order (sync first on even repeats, async first on odd ones), so a drifting machine is "
    "charged to both alike. Both consumers' sync work (the sync consumer's handlers, the "
    "auth middleware's user lookup, the async consumer's aclose_old_connections hop) runs "
    "on asgiref's one thread-sensitive executor, whatever ASGI_THREADS says."
)


def verdict_rule() -> str:
    """When the report calls a consumer the winner: the rule ``chanbench compare`` uses."""
    return (
        "A consumer wins only where chanbench compare would call it better: medians "
        f"{significance.DEFAULT_THRESHOLD:.0%} apart and a Mann-Whitney U test over the repeats "
        f"at p < {significance.SIGNIFICANCE_ALPHA:g}: on throughput in closed loop (where latency "
        "follows from throughput by Little's law), on p99 in open loop, and there only when "
        f"neither consumer lost more than {stats.LOSS_BOUND:.1%} in any repeat."
    )


def version_blocks(source: Source) -> list[Block]:
    """The runner's versions, then what each server's own interpreter reported."""
    env = source.run.environment
    git = env.git
    rows = [
        ["chanbench", source.run.tool.version or "?"],
        [
            "git commit",
            f"{git.commit or 'none'}" + (" (dirty: uncommitted changes)" if git.dirty else ""),
        ],
        ["python", f"{env.python or '?'} ({env.python_implementation or '?'})"],
        ["os", env.os or "?"],
        ["cpu", f"{env.cpu_model or '?'} x {env.cpu_count or '?'}"],
    ]
    rows += [[name, str(version)] for name, version in env.packages.items()]
    if env.redis_server:
        rows.append(["redis-server", env.redis_server])
    blocks: list[Block] = [Table(["component", "version"], rows)]
    if source.run.target:
        blocks.append(
            Paragraph(
                "These are the load generator's. chanbench did not start the target "
                f"server ({source.run.target}) and did not observe its versions."
            )
        )
    # Points that ran the same versions share one table; old files have none.
    by_versions: dict[str, list[PointResult]] = {}
    for point in source.run.points:
        if point.software:
            by_versions.setdefault(repr(sorted(point.versions().items())), []).append(point)
    for points in by_versions.values():
        labels = [p.label for p in points]
        which = "every point" if len(labels) == len(source.run.points) else ", ".join(labels)
        blocks.append(Paragraph(f"The server's own interpreter reported ({which}):"))
        rows = [[name, version] for name, version in points[0].versions().items()]
        interpreters = _unique(p.software.executable for p in points if p.software)
        rows += [["interpreter", str(e)] for e in interpreters if e]
        blocks.append(Table(["component", "version"], rows))
        envs = _unique(p.point.env for p in points)
        if len(envs) > 1:
            blocks.append(
                Paragraph(
                    f"Environments {', '.join(envs)} resolved to the same versions: what "
                    "tells them apart is not these packages."
                )
            )
    return blocks


def _unique(items: Iterable[Any]) -> list[Any]:
    """``items`` without repeats, in their order."""
    return list(dict.fromkeys(items))


def warning_items(source: Source) -> list[str]:
    """Client saturation, lost messages, failed repeats, wide spread, few repeats."""
    items: list[str] = []
    few = False
    for point in source.run.points:
        label = point.label or point.id
        for rep in point.repeats:
            if not rep.ok:
                items.append(f"{label}, repeat {rep.repeat}: failed: {rep.reason}")
            items += [f"{label}, repeat {rep.repeat}: {warning}" for warning in rep.warnings]
        for metric in ("delivered_per_s", "p99_ms"):
            items += [f"{label}: {w}" for w in stats.spread_warnings(metric, point.values(metric))]
        few = few or len(point.ok_repeats()) < stats.FEW_REPEATS
    if few:
        items.append(
            f"Fewer than {stats.FEW_REPEATS} successful repeats at some points: "
            "spread cannot be judged there."
        )
    return list(dict.fromkeys(items))


def reproduce_blocks(source: Source) -> list[Block]:
    git = source.run.environment.git
    text = f"At git commit {git.commit or '(no git)'}"
    text += (" plus uncommitted changes" if git.dirty else "") + ", run:"
    return [Paragraph(text), Code(source.run.command or "(the command was not recorded)")]


def when(timestamp: Any) -> str:
    """A timestamp (epoch seconds or ISO text) as ``2026-11-24 18:58 UTC``."""
    if isinstance(timestamp, int | float):
        when = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    elif isinstance(timestamp, str):
        try:
            when = dt.datetime.fromisoformat(timestamp).astimezone(dt.UTC)
        except ValueError:
            return timestamp
    else:
        return "unknown"
    return when.strftime("%Y-%m-%d %H:%M UTC")
