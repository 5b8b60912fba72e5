"""Which deployment to pick: the configurations of a saturation search ranked, for each
consumer, by the highest load they sustained within the search's bounds.

A configuration is a consumer with every key of its search group but ``rate`` (server,
loop, workers, layer...). Its load is what it delivered at the highest rate that held
the bounds (every repeat within the p99 and loss bounds); beside it, its share of the
load generator's ceiling (how far from what plain Python websockets do on this machine)
and the server's CPU per thousand deliveries. A configuration whose best step saw the
whole machine saturated is marked: on a shared 2-core box several workers, Redis and the
clients compete for the same cores, and the ranking then describes the machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.judge import stats
from bench.results.model import PointResult, Run, varying_keys
from bench.results.units import num

# Two configurations this close (relative) are not told apart by one search.
TIE = 0.10
HEADERS = [
    "rank",
    "consumer",
    "configuration",
    "highest sustained rate (msg/s per client)",
    "delivered/s there",
    "share of the client's ceiling",
    "server CPU ms per 1,000 deliveries",
    "machine saturated",
]


@dataclass
class Ranked:
    consumer: str
    configuration: str
    rate: float | None
    delivered_per_s: float | None
    ceiling_share: float | None
    cpu_ms_per_1000: float | None
    machine_saturated: bool


def _config(point: PointResult, keys: list[str]) -> str:
    return " ".join(f"{k}={point.point.value(k)}" for k in keys) or "-"


def ranking(run: Run) -> dict[str, list[Ranked]] | None:
    """Per consumer, the searched configurations, best first; None without a search."""
    saturation = run.saturation
    if not saturation or not run.points:
        return None
    best: dict[tuple[str, str], PointResult | None] = {}
    keys = sorted(varying_keys([p.point for p in run.points], exclude=("consumer", "rate")))
    for point in run.points:
        consumer = point.point.consumer
        key = (consumer, _config(point, keys))
        best.setdefault(key, None)
        if point.search is None or not point.search.within_bounds:
            continue
        held = best[key]
        if held is None or point.point.rate > held.point.rate:
            best[key] = point
    out: dict[str, list[Ranked]] = {}
    for (consumer, configuration), top in best.items():
        if top is None:
            entry = Ranked(consumer, configuration, None, None, None, None, False)
        else:
            delivered = top.median("delivered_per_s")
            cpu = top.median("cpu_percent")
            shares = [r.ceiling_fraction for r in top.ok_repeats() if r.ceiling_fraction]
            entry = Ranked(
                consumer,
                configuration,
                top.point.rate,
                delivered,
                stats.median(shares),
                10_000 * cpu / delivered if cpu is not None and delivered else None,
                any("machine saturated" in w for r in top.ok_repeats() for w in r.warnings),
            )
        out.setdefault(consumer, []).append(entry)
    for entries in out.values():
        entries.sort(key=lambda e: -(e.delivered_per_s or 0.0))
    return out


def table(ranks: dict[str, list[Ranked]]) -> tuple[list[str], list[list[str]]]:
    rows = []
    for consumer in sorted(ranks, key=lambda c: (c != "sync", c)):
        for i, e in enumerate(ranks[consumer], 1):
            rows.append(
                [
                    str(i) if e.rate is not None else "-",
                    consumer,
                    e.configuration,
                    num(e.rate, "g") if e.rate is not None else "none held",
                    num(e.delivered_per_s),
                    num(e.ceiling_share, ".1%"),
                    num(e.cpu_ms_per_1000, ".0f"),
                    "yes" if e.machine_saturated else "no",
                ]
            )
    return HEADERS, rows


def advice(ranks: dict[str, list[Ranked]]) -> list[str]:
    """Which configuration to pick for each consumer, and how sure that is."""
    out = []
    for consumer in sorted(ranks, key=lambda c: (c != "sync", c)):
        held = [e for e in ranks[consumer] if e.delivered_per_s]
        if not held:
            out.append(f"{consumer}: no configuration held the bounds at any rate tried.")
            continue
        top = held[0]
        text = (
            f"{consumer}: pick {top.configuration}: it sustained "
            f"{num(top.delivered_per_s)} deliveries/s within the bounds"
        )
        if len(held) > 1:
            second = held[1]
            ahead = (top.delivered_per_s or 0) / (second.delivered_per_s or 1) - 1
            if ahead < TIE:
                text += (
                    f", within {TIE:.0%} of {second.configuration} "
                    f"({num(second.delivered_per_s)}/s): one search does not tell them apart"
                )
            else:
                text += f", {ahead:.0%} more than the next, {second.configuration}"
        if top.machine_saturated:
            text += (
                "; the whole machine was saturated there, so the limit was this machine, "
                "not the configuration"
            )
        out.append(text + ".")
    return out
