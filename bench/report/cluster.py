"""What a run on a Dask cluster says about its hosts, in words: which hosts drove the
load, their clocks, and which latencies are same-host. For the report's caveats and the
terminal, from the same lines."""

from __future__ import annotations

from bench.results.hosts import CROSS_HOST_BOUND_SHARE
from bench.results.model import Repeat, Run
from bench.results.units import ms


def cluster_items(run: Run) -> list[str]:
    """Nothing for a run on local processes."""
    repeats = [(p.label, r) for p in run.points for r in p.ok_repeats() if r.hosts]
    if not repeats:
        return []
    hosts = {h.name: h for _, r in repeats for h in r.hosts}
    where = f" ({run.scenario.cluster})" if run.scenario.cluster else ""
    clocks = ", ".join(
        f"{h.name} {h.clock_offset_ms:+.3f} ms +-{h.clock_bound_ms:.3f}" for h in hosts.values()
    )
    items = [
        f"The clients ran on a Dask cluster{where}, {len(hosts)} host(s); each host's clock "
        f"minus the coordinator's, measured through the scheduler: {clocks}."
    ]
    split = [(label, r) for label, r in repeats if r.latency_scope == "same-host"]
    if split:
        items.append(
            "Latency times only deliveries whose sender and receiver were on one host (one "
            "clock); rooms spanned hosts and every delivery was accounted for. Cross-host "
            "latency, corrected by both hosts' offsets, is given where its bound is under "
            f"{CROSS_HOST_BOUND_SHARE:.0%} of its p50: "
            + "; ".join(_cross_host(label, r) for label, r in split)
            + "."
        )
    return items


def _cross_host(label: str, repeat: Repeat) -> str:
    bound = repeat.cross_host_bound_ms or 0.0
    p50 = repeat.cross_host_latency_ms.get("p50")
    if p50 is None:
        return f"{label} r{repeat.repeat}: not reported (bound +-{bound:.3f} ms)"
    return f"{label} r{repeat.repeat}: p50 {ms(p50)} ms +-{bound:.3f}"
