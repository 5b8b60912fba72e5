"""Who wins at each load, sync or async: the summary's sentences.

The verdict is the judged metric's own rule (``Metric.judge``), with the threshold
``chanbench compare`` uses, sync as the base and async as the new side: a report never
calls a difference real that a comparison would call noise, and says when the repeats
are too few to tell.
"""

from __future__ import annotations

import math
from typing import Any

from bench.judge import significance, stats
from bench.report.layout import Extra, Layout, Source, sort_key
from bench.results.metrics import METRICS
from bench.results.model import PointResult
from bench.results.units import LOST, ms, num


def summary_items(lay: Layout, source: Source) -> list[str]:
    """Sync against async at each load of ``source``: one sentence each."""
    pairs: dict[tuple[str, Extra, Any], dict[str, PointResult]] = {}
    for line in lay.lines:
        if line.source is source:
            for x, point in line.points:
                pairs.setdefault((line.layer, line.extra, x), {})[line.consumer] = point

    def order(key: tuple[str, Extra, Any]) -> tuple[Any, ...]:
        layer, extra, x = key
        return (layer, *(sort_key(v) for _, v in extra), sort_key(x))

    return [
        pair_sentence(f"{lay.point_name(x, extra)}, {layer} layer", pair["sync"], pair["async"])
        for (layer, extra, x), pair in sorted(pairs.items(), key=lambda kv: order(kv[0]))
        if {"sync", "async"} <= pair.keys()
    ]


def repeats_for_a_verdict(alpha: float = significance.SIGNIFICANCE_ALPHA) -> int:
    """The fewest repeats a side with which the Mann-Whitney test can reach ``alpha``."""
    n = 1
    while significance.mann_whitney_min_p(n, n) >= alpha:
        n += 1
    return n


def pair_sentence(where: str, sync: PointResult, async_: PointResult) -> str:
    """Who wins at one load, judged as ``chanbench compare`` judges base (sync) against
    new (async), then the ratios of the medians and the thread counts.

    In closed loop the verdict is on throughput alone: there latency is messages in flight
    divided by throughput (Little's law), so it restates the throughput rather than adding
    a finding. In open loop the clients send at a fixed rate whatever the server does, so
    throughput only says whether it kept up and latency decides, when both consumers lost
    at most ``stats.LOSS_BOUND`` in every repeat."""
    open_loop = sync.point.mode == "open"
    metric, judgement = judge_pair(sync, async_)
    what = "p99 latency" if open_loop else "throughput"
    base, new = sync.values(metric), async_.values(metric)
    threshold = significance.DEFAULT_THRESHOLD
    facts = _facts(sync, async_)
    if judgement.verdict in (significance.FAILED, significance.NO_DATA):
        return f"{where}: no comparable measurements (a consumer has no successful repeat)."
    if judgement.verdict == significance.NOT_JUDGED:
        return (
            f"{where}: no latency verdict: {judgement.reason}; past it, the loss is the "
            f"finding and the latency of what arrived is not comparable. {facts}"
        )
    p = judgement.p if judgement.p is not None else 1.0
    ratio = judgement.ratio if judgement.ratio is not None else 1.0
    repeats = f"{len(new)} async and {len(base)} sync repeats"
    if judgement.verdict in (significance.BETTER, significance.WORSE):
        verdict = "async wins" if judgement.verdict == significance.BETTER else "sync wins"
        why = (
            f"The {what} difference is past the {threshold:.0%} threshold and significant "
            f"(Mann-Whitney U over {repeats}: p = {p:.2g} < {significance.SIGNIFICANCE_ALPHA:g})."
        )
    elif judgement.verdict == significance.UNCERTAIN:
        verdict = "uncertain"
        needed = repeats_for_a_verdict()
        min_p = significance.mann_whitney_min_p(len(base), len(new))
        why = (
            f"Every async repeat's {what} is {'above' if ratio > 1 else 'below'} every sync "
            f"one, but {repeats} cannot show it is significant: the smallest p they can "
            f"reach is {min_p:.2g}, and a verdict needs p < {significance.SIGNIFICANCE_ALPHA:g}, "
            f"which takes {needed} repeats a side (--set repeats={needed})."
        )
    elif abs(ratio - 1) < threshold:
        verdict = "not significant"
        why = (
            f"The {what} medians are within {threshold:.0%} of each other "
            f"(p = {p:.2g} over {repeats}): neither consumer wins."
        )
    else:
        verdict = "not significant"
        why = (
            f"The {what} medians differ by {abs(ratio - 1):.0%}, but the repeats overlap "
            f"too much to tell it from noise (Mann-Whitney U over {repeats}: p = {p:.2g}, "
            f"a verdict needs p < {significance.SIGNIFICANCE_ALPHA:g})."
        )
    return f"{where}: {verdict}. {facts} {why}" + (
        "" if open_loop else f" {_littles_law(sync, async_)}"
    )


def judge_pair(sync: PointResult, async_: PointResult) -> tuple[str, significance.Judgement]:
    """The metric a sync/async pair is judged on (throughput in closed loop, p99 in open
    loop), and that metric's verdict of async against sync on it."""
    metric = "p99_ms" if sync.point.mode == "open" else "delivered_per_s"
    losses = {"sync": sync.values("loss_ratio"), "async": async_.values("loss_ratio")}
    return metric, METRICS[metric].judge(sync.values(metric), async_.values(metric), losses)


def short_verdict(sync: PointResult, async_: PointResult) -> str:
    """The verdict a summary sentence opens with, in a few words for the terminal, e.g.
    ``async wins, throughput 1.62x, p = 0.0079``: the same judgement (``judge_pair``)."""
    metric, judgement = judge_pair(sync, async_)
    word = verdict_word(judgement)
    if judgement.ratio is None or judgement.p is None:
        return word
    what = "p99" if metric == "p99_ms" else "throughput"
    short = f"{word}, {what} {judgement.ratio:.2f}x, p = {judgement.p:.2g}"
    if judgement.verdict == significance.UNCERTAIN:
        needed = repeats_for_a_verdict()
        short += f" (a verdict needs {needed} repeats a side: --set repeats={needed})"
    return short


def verdict_word(
    judgement: significance.Judgement, better: str = "async wins", worse: str = "sync wins"
) -> str:
    """``async wins`` (``better``), ``sync wins`` (``worse``), ``uncertain``, ``not
    significant``, or why not judged."""
    return {
        significance.BETTER: better,
        significance.WORSE: worse,
        significance.UNCERTAIN: "uncertain",
        significance.NOT_JUDGED: "not judged (loss)",
        significance.FAILED: "no data",
        significance.NO_DATA: "no data",
    }.get(judgement.verdict, "not significant")


def _facts(sync: PointResult, async_: PointResult) -> str:
    """The ratios behind a verdict: throughput, p99 (with the loss when there is any),
    threads."""
    ms_, ma = sync.medians(), async_.medians()
    thr = stats.ratio(ma["delivered_per_s"], ms_["delivered_per_s"])
    p99s, p99a = ms_["p99_ms"], ma["p99_ms"]
    finite = all(v is not None and math.isfinite(v) for v in (p99s, p99a))
    p99 = stats.ratio(p99a, p99s) if finite else None
    latency = (
        f"at {num(p99, '.2f', 'x')} its p99 latency ({ms(p99a)} vs {ms(p99s)} ms)"
        if finite
        else f"with a p99 latency of {_ms(p99a)} (async) vs {_ms(p99s)} (sync)"
    )
    loss = ""
    if max(ma["loss_ratio"] or 0, ms_["loss_ratio"] or 0) > 0:
        loss = f", losing {num(ma['loss_ratio'], '.2%')} vs {num(ms_['loss_ratio'], '.2%')}"
    return (
        f"Async delivers {num(thr, '.2f', 'x')} the messages per second of sync "
        f"({num(ma['delivered_per_s'])} vs {num(ms_['delivered_per_s'])}/s) {latency}{loss}; "
        f"server threads {num(ma['threads'])} (async) vs {num(ms_['threads'])} (sync)."
    )


def _littles_law(sync: PointResult, async_: PointResult) -> str:
    """Why a closed-loop point states no latency verdict."""
    thr = stats.ratio(async_.median("delivered_per_s"), sync.median("delivered_per_s"))
    p99s, p99a = sync.median("p99_ms"), async_.median("p99_ms")
    finite = all(v is not None and math.isfinite(v) for v in (p99s, p99a))
    p99 = stats.ratio(p99a, p99s) if finite else None
    both = (
        f"{num(thr, '.2f', 'x')} the messages at {num(p99, '.2f', 'x')} the p99 is one fact, "
        "not two"
        if thr is not None and p99 is not None
        else "the latency is not a second finding"
    )
    return (
        "No latency verdict in closed loop: there latency follows from throughput (Little's "
        f"law: latency = messages in flight / throughput), so {both}; latency verdicts come "
        "from open-loop points."
    )


def _ms(value: float | None) -> str:
    """``12.3 ms``, or the lost spelling alone."""
    text = ms(value)
    return text if text in (LOST, "-") else f"{text} ms"
