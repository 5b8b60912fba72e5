"""The load hosts of a repeat on a cluster: what each drove, how busy it was, its clock;
and the latency between hosts, reported only where the clocks are known well enough.

Pure: it reads the workers' results and the clock offsets the pool measured, and writes
them into the ``Repeat``; a run on local processes has none of it (older files read the
same: every field here has a default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from bench.judge import stats
from bench.results.books import WorkerResult
from bench.results.record import Record

if TYPE_CHECKING:
    from bench.results.model import Calibration, Repeat

# Cross-host latency is reported only where the clocks' error bound is at most this
# share of its p50: beyond, the bound would be a visible part of the figure.
CROSS_HOST_BOUND_SHARE = 0.10
# The same thresholds as the local flags (``run.flags``), per host.
CLIENT_SATURATED_PERCENT = 90.0
MACHINE_SATURATED_PERCENT = 90.0
CEILING_WARN_FRACTION = 0.8


@dataclass
class HostSummary(Record):
    """One load host in one repeat (or calibration)."""

    name: str = ""
    address: str = ""
    workers: list[str] = field(default_factory=list)  # its Dask workers' addresses
    clients: int = 0
    deliveries_per_s: float = 0.0  # received by its clients in the window
    client_cpu_percent: list[float] = field(default_factory=list)  # per client worker
    machine_cpu_percent: float | None = None  # all its cores, over the window
    clock_offset_ms: float = 0.0  # its clock minus the coordinator's
    clock_bound_ms: float = 0.0  # +- on that offset: half the best round trip
    ceiling_deliveries_per_s: float | None = None  # its share of the calibration
    warnings: list[str] = field(default_factory=list)


class HostPlace(NamedTuple):
    """Where one client worker ran."""

    host: str
    ip: str
    worker: str  # the Dask worker's address


def describe_hosts(
    record: Repeat,
    results: Sequence[WorkerResult],
    where: dict[int, HostPlace],
    clocks: dict[str, tuple[int, int]],
    calibration: Calibration | None = None,
) -> None:
    """Write ``record.hosts`` and the cross-host latency from the workers' ``results``
    (``where``: each worker's place; ``clocks``: each host's offset and bound, ns)."""
    measured_s = record.throughput.measured_s if record.throughput else 0.0
    ceilings = {h.name: h.deliveries_per_s for h in calibration.hosts} if calibration else {}
    hosts: dict[str, HostSummary] = {}
    for res in results:
        place = where[res.worker]
        offset_ns, bound_ns = clocks.get(place.host, (0, 0))
        host = hosts.setdefault(
            place.host,
            HostSummary(
                name=place.host,
                address=place.ip,
                clock_offset_ms=round(offset_ns / 1e6, 3),
                clock_bound_ms=round(bound_ns / 1e6, 3),
                ceiling_deliveries_per_s=ceilings.get(place.host),
            ),
        )
        if place.worker not in host.workers:
            host.workers.append(place.worker)
        host.clients += res.clients
        if measured_s:
            host.deliveries_per_s += res.counts.received_in_window / measured_s
        host.client_cpu_percent.append(round(100 * res.cpu_s / (res.measured_s or 1.0), 1))
        if res.machine_cpu_percent is not None:
            host.machine_cpu_percent = max(host.machine_cpu_percent or 0.0, res.machine_cpu_percent)
    for host in hosts.values():
        host.deliveries_per_s = round(host.deliveries_per_s, 1)
        host.warnings = _host_warnings(host)
        record.warnings += [f"host {host.name}: {line}" for line in host.warnings]
    record.hosts = list(hosts.values())
    if len(hosts) > 1:
        record.latency_scope = "same-host"
        _cross_host(record, results, [clocks.get(h, (0, 0))[1] for h in hosts])


def _host_warnings(host: HostSummary) -> list[str]:
    out = []
    busiest = max(host.client_cpu_percent, default=0.0)
    if busiest >= CLIENT_SATURATED_PERCENT:
        out.append(f"client saturated: a client worker used {busiest:.0f}% of a core")
    if (host.machine_cpu_percent or 0.0) >= MACHINE_SATURATED_PERCENT:
        out.append(f"machine saturated: its cores were {host.machine_cpu_percent:.0f}% busy")
    ceiling = host.ceiling_deliveries_per_s
    if ceiling and host.deliveries_per_s >= CEILING_WARN_FRACTION * ceiling:
        out.append(
            f"{host.deliveries_per_s / ceiling:.0%} of its calibrated ceiling: "
            "the client may be the limit"
        )
    return out


def _cross_host(record: Repeat, results: Sequence[WorkerResult], bounds_ns: list[int]) -> None:
    """The corrected latency between hosts, and its bound: the two largest hosts'
    bounds, as a pair's correction carries both. Its histogram is always kept; its
    figures are reported only where the bound is small beside the p50."""
    hist = stats.merge_histograms(r.cross_host_histogram for r in results)
    top = sorted(bounds_ns, reverse=True)[:2]
    bound_ms = round(sum(top) / 1e6, 3)
    record.cross_host_bound_ms = bound_ms
    if not hist.get_total_count():
        return
    record.cross_host_histogram = hist.encode().decode("ascii")  # kept, as every raw book
    summary = stats.latency_summary_ms(hist)
    p50 = summary.get("p50")
    if p50 is not None and bound_ms <= CROSS_HOST_BOUND_SHARE * p50:
        record.cross_host_latency_ms = summary
    else:
        record.warnings.append(
            f"cross-host latency not reported: the clocks' bound +-{bound_ms:.3f} ms is not "
            f"small beside its p50 ({p50} ms); latency is same-host only"
        )
