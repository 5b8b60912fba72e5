"""Who wins at each load, sync or async: the summary's sentences.

The verdict is ``stats.judge``'s, with the threshold ``chanbench compare`` uses, sync as
the base and async as the new side: a report never calls a difference real that a
comparison would call noise, and says when the repeats are too few to tell.
"""

from __future__ import annotations

from typing import Any

from bench import stats
from bench.report.layout import Extra, Layout, Source, sort_key
from bench.results import METRICS, PointResult
from bench.tables import num


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


def repeats_for_a_verdict(alpha: float = stats.SIGNIFICANCE_ALPHA) -> int:
    """The fewest repeats a side with which the Mann-Whitney test can reach ``alpha``."""
    n = 1
    while stats.mann_whitney_min_p(n, n) >= alpha:
        n += 1
    return n


def pair_sentence(where: str, sync: PointResult, async_: PointResult) -> str:
    """Who wins at one load, judged as ``chanbench compare`` judges base (sync) against
    new (async), then the ratios of the medians and the thread counts."""
    # In open loop the clients send at a fixed rate whatever the server does, so
    # throughput only says whether it kept up; latency decides.
    metric = "p99_ms" if sync.params.get("mode") == "open" else "delivered_per_s"
    what = "p99 latency" if metric == "p99_ms" else "throughput"
    base, new = sync.values(metric), async_.values(metric)
    threshold = stats.DEFAULT_THRESHOLD
    judgement = stats.judge(
        base, new, higher_is_better=METRICS[metric].higher_is_better, threshold=threshold
    )
    if judgement.verdict in (stats.FAILED, stats.NO_DATA):
        return f"{where}: no comparable measurements (a consumer has no successful repeat)."
    p = judgement.p if judgement.p is not None else 1.0
    ratio = judgement.ratio if judgement.ratio is not None else 1.0
    repeats = f"{len(new)} async and {len(base)} sync repeats"
    if judgement.verdict in (stats.BETTER, stats.WORSE):
        verdict = "async wins" if judgement.verdict == stats.BETTER else "sync wins"
        why = (
            f"The {what} difference is past the {threshold:.0%} threshold and significant "
            f"(Mann-Whitney U over {repeats}: p = {p:.2g} < {stats.SIGNIFICANCE_ALPHA:g})."
        )
    elif judgement.verdict == stats.UNCERTAIN:
        verdict = "uncertain"
        needed = repeats_for_a_verdict()
        min_p = stats.mann_whitney_min_p(len(base), len(new))
        why = (
            f"Every async repeat's {what} is {'above' if ratio > 1 else 'below'} every sync "
            f"one, but {repeats} cannot show it is significant: the smallest p they can "
            f"reach is {min_p:.2g}, and a verdict needs p < {stats.SIGNIFICANCE_ALPHA:g}, "
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
            f"a verdict needs p < {stats.SIGNIFICANCE_ALPHA:g})."
        )
    ms, ma = sync.medians(), async_.medians()
    thr = stats.ratio(ma["delivered_per_s"], ms["delivered_per_s"])
    p99 = stats.ratio(ma["p99_ms"], ms["p99_ms"])
    return (
        f"{where}: {verdict}. Async delivers {num(thr, '.2f', 'x')} the messages per "
        f"second of sync ({num(ma['delivered_per_s'])} vs {num(ms['delivered_per_s'])}/s) "
        f"at {num(p99, '.2f', 'x')} its p99 latency ({num(ma['p99_ms'], '.1f')} vs "
        f"{num(ms['p99_ms'], '.1f')} ms); server threads {num(ma['threads'])} (async) vs "
        f"{num(ms['threads'])} (sync). {why}"
    )
