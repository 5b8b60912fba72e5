"""The cluster's pure parts: cross-host books in the ledger, where each client runs in
the plans, the hosts and the cross-host rule in the result, the --cluster address, and
that the default path never imports Dask. Numbers are worked out by hand."""

from __future__ import annotations

import importlib
import sys

import pytest
from helpers import chat_frame

from bench.errors import UserError
from bench.judge import stats
from bench.loadgen.ledger import DeliveryLedger
from bench.protocols import MEASURED
from bench.results.books import WorkerResult
from bench.results.hosts import HostPlace, describe_hosts
from bench.results.model import Repeat

START_NS = 10_000_000_000
MS = 1_000_000


def frame(sender: int, seq: int, sent_ns: int) -> str:
    return chat_frame(sender, seq, sent_ns, MEASURED)


def placed_ledger() -> DeliveryLedger:
    """Clients 0, 1 on host 0 (clock +0), 2, 3 on host 1 (clock 250 ms ahead); this
    worker is host 0; all four in room 0."""
    ledger = DeliveryLedger()
    ledger.window = (START_NS, START_NS + 1000 * MS)
    ledger.join(0)
    ledger.place(0, [0, 0, 1, 1], [0, 250 * MS])
    return ledger


def test_same_host_pairs_are_timed_on_one_clock_cross_host_corrected_apart():
    ledger = placed_ledger()
    ledger.receive(0, 0, frame(1, 0, START_NS), START_NS + 3 * MS)  # same host: 3 ms
    # Sent by host 1 at its START+250 ms+... : 4 ms later on host 0's clock.
    ledger.receive(0, 0, frame(2, 0, START_NS + 250 * MS), START_NS + 4 * MS)
    counts = ledger.counts
    assert (counts.delivered, counts.cross_host, counts.negative_latency) == (2, 1, 0)
    assert list(ledger.latencies_us) == [3000]
    assert list(ledger.cross_latencies_us) == [4000]
    assert stats.merge_histograms([ledger.cross_host_histogram()]).get_total_count() == 1


def test_cross_host_below_zero_after_correction_is_counted_never_clamped():
    ledger = placed_ledger()
    ledger.receive(0, 0, frame(3, 0, START_NS + 251 * MS), START_NS)  # -1 ms corrected
    counts = ledger.counts
    assert (counts.delivered, counts.cross_host, counts.cross_host_negative) == (1, 1, 1)
    assert counts.negative_latency == 0  # not the harness's bug: inside the clock bound
    assert not ledger.cross_latencies_us and not ledger.latencies_us


def test_off_a_cluster_every_pair_is_same_host():
    ledger = DeliveryLedger()
    ledger.window = (START_NS, START_NS + 1000 * MS)
    ledger.join(0)
    ledger.receive(0, 0, frame(5, 0, START_NS), START_NS + 2 * MS)
    assert list(ledger.latencies_us) == [2000] and ledger.counts.cross_host == 0
    assert ledger.cross_host_histogram() == ""


def worker_result(worker: int, latencies_us: list[int], cross_us: list[int]) -> WorkerResult:
    import numpy as np

    res = WorkerResult(worker=worker, clients=2, cpu_s=0.5, measured_s=1.0)
    res.counts.received_in_window = 100
    res.latency_histogram = stats.encode_histogram(np.array(latencies_us, dtype=np.int64))
    if cross_us:
        res.cross_host_histogram = stats.encode_histogram(np.array(cross_us, dtype=np.int64))
    res.machine_cpu_percent = 40.0
    return res


@pytest.mark.parametrize(
    ("bound_ms", "reported"),
    [(0.5, True), (2.0, False)],  # against a p50 of 10 ms: 5% is small, 20% is not
)
def test_hosts_named_and_cross_host_reported_only_where_the_bound_is_small(bound_ms, reported):
    results = [worker_result(0, [5000], [10_000]), worker_result(1, [6000], [10_000])]
    record = Repeat.from_workers(0, results, clients=4, duration_s=1.0)
    where = {
        0: HostPlace("a", "10.0.0.1", "tcp://10.0.0.1:1"),
        1: HostPlace("b", "10.0.0.2", "tcp://10.0.0.2:1"),
    }
    half = int(bound_ms / 2 * MS)
    describe_hosts(record, results, where, {"a": (0, half), "b": (3 * MS, half)})
    assert [(h.name, h.clients, h.deliveries_per_s) for h in record.hosts] == [
        ("a", 2, 100.0),
        ("b", 2, 100.0),
    ]
    assert record.hosts[1].clock_offset_ms == 3.0
    assert record.latency_scope == "same-host"
    assert record.cross_host_bound_ms == pytest.approx(bound_ms)
    assert record.cross_host_histogram  # the raw books are kept either way
    assert bool(record.cross_host_latency_ms) is reported
    assert any("cross-host latency not reported" in w for w in record.warnings) is not reported


def test_a_host_near_its_calibrated_ceiling_is_flagged():
    from bench.results.hosts import HostSummary
    from bench.results.model import Calibration

    results = [worker_result(0, [5000], [])]
    record = Repeat.from_workers(0, results, clients=2, duration_s=1.0)
    calibration = Calibration(hosts=[HostSummary(name="a", deliveries_per_s=110.0)])
    describe_hosts(record, results, {0: HostPlace("a", "ip", "w")}, {}, calibration)
    (host,) = record.hosts
    assert host.ceiling_deliveries_per_s == 110.0
    assert any("calibrated ceiling" in w for w in host.warnings)
    assert record.latency_scope == ""  # one host: every pair timed


def test_plans_learn_each_clients_host():
    from bench.loadgen.cluster import DaskWorker, HostClock
    from bench.loadgen.cluster_pool import _placed
    from bench.loadgen.pool import plan_workers
    from bench.scenario import Point

    point = Point(clients=6, rooms=1, client_processes=3)
    plans = plan_workers(point, "ws://x/{room}/", "http://x", 0)
    places = [
        DaskWorker("tcp://a:1", "a", "a", 1),
        DaskWorker("tcp://b:1", "b", "b", 2),
        DaskWorker("tcp://b:2", "b", "b", 3),
    ]
    clocks = {"a": HostClock(0, 100), "b": HostClock(7, 100)}
    placed = _placed(plans, places, ["a", "b"], clocks)
    # One room over three workers: clients round-robin, 0 and 3 on worker 0 (host a).
    assert placed[0].sender_hosts == [0, 1, 1, 0, 1, 1]
    assert [p.host for p in placed] == [0, 1, 1]
    assert placed[2].clock_offsets_ns == [0, 7]
    # One host: the plans are left as they are (every pair same-host).
    assert _placed(plans, places[1:] + places[1:2], ["b"], clocks) == plans


@pytest.mark.parametrize(
    "spec", ["localhost:8786", "local:0", "local:x", "tcp://host", "http://h:1", "local:999"]
)
def test_a_bad_cluster_address_is_one_clear_error(spec):
    from bench.loadgen.cluster import parse_spec

    with pytest.raises(UserError, match="--cluster"):
        parse_spec(spec)


def test_cluster_addresses_read():
    from bench.loadgen.cluster import parse_spec

    assert parse_spec("tcp://10.0.0.5:8786") == ("tcp://10.0.0.5:8786", 0)
    assert parse_spec("local:4") == (None, 4)


def test_the_default_path_never_imports_dask():
    """chanbench's command, runner, pool and worker, imported afresh, import no Dask."""
    saved = dict(sys.modules)
    try:
        for name in list(sys.modules):
            if name == "bench" or name.startswith(("bench.", "dask", "distributed")):
                del sys.modules[name]
        for name in ("bench.cli", "bench.run.runner", "bench.loadgen.pool", "bench.loadgen.worker"):
            importlib.import_module(name)
        dask = sorted(n for n in sys.modules if n.split(".")[0] in ("dask", "distributed"))
        assert not dask
        assert "bench.loadgen.cluster" not in sys.modules
    finally:
        sys.modules.clear()
        sys.modules.update(saved)


def test_the_report_says_which_latencies_are_same_host():
    from bench.report.cluster import cluster_items
    from bench.results.model import PointResult, Run

    results = [worker_result(0, [5000], [10_000]), worker_result(1, [6000], [10_000])]
    record = Repeat.from_workers(0, results, clients=4, duration_s=1.0)
    where = {0: HostPlace("a", "ip", "w0"), 1: HostPlace("b", "ip", "w1")}
    describe_hosts(record, results, where, {"a": (0, 100_000), "b": (2 * MS, 100_000)})
    run = Run(points=[PointResult(label="async", repeats=[record])])
    hosts, latency = cluster_items(run)
    assert "2 host(s)" in hosts and "b +2.000 ms +-0.100" in hosts
    assert "one host" in latency and "async r0: p50 10.0 ms +-0.200" in latency
    assert cluster_items(Run(points=[PointResult(label="x", repeats=[Repeat(repeat=0)])])) == []


def test_a_remote_cluster_takes_the_clients_limits_off_this_machine():
    """12,000 clients need three client processes: more than this machine's cores allow
    beside the server, unless they run on a cluster's hosts (their limits are theirs)."""
    from bench.run.preflight import check_limits, usable_cores
    from bench.scenario import Point

    class RemoteCluster:  # what check_limits asks a Cluster: its clients are elsewhere
        def clients_here(self) -> bool:
            return False

    point = Point(clients=12_000, clients_per_room=10)
    if usable_cores() >= 4:
        pytest.skip("this machine's cores hold 12,000 clients: nothing to refuse")
    with pytest.raises(UserError, match="client processes"):
        check_limits("s.toml", [point])
    check_limits("s.toml", [point], cluster=RemoteCluster())
