"""The flags that say a repeat's numbers describe the client, not the server."""

from bench.results.model import (
    ClientSummary,
    MachineSummary,
    MonitorSummary,
    Repeat,
    RepeatCounts,
)
from bench.run.flags import client_warnings, summary_lines


def repeat(client_cpu_percent):
    """One client process at ``client_cpu_percent`` of a core, every message delivered."""
    return Repeat(
        repeat=0,
        counts=RepeatCounts(clients=1, connected=1, delivered=1, expected=1),
        loss_ratio=0.0,
        clients=ClientSummary(processes=1, cpu_percent=[client_cpu_percent]),
    )


def saturated(rep):
    return any(w.startswith("client saturated") for w in client_warnings(rep))


def test_client_saturation_flag():
    assert saturated(repeat(95.0))
    assert not saturated(repeat(10.0))


def test_client_busier_than_the_server_is_saturated():
    rep = repeat(70.0)
    rep.server = MonitorSummary(cpu_mean_percent=60.0)
    assert saturated(rep)
    rep.server = MonitorSummary(cpu_mean_percent=100.0)
    assert not saturated(rep)


def test_near_the_ceiling_is_flagged():
    rep = repeat(5.0)
    rep.ceiling_fraction = 0.85
    assert any("ceiling" in w for w in client_warnings(rep))
    assert client_warnings(repeat(5.0)) == []


def late(p99_ms, p50_ms):
    """An open-loop repeat whose sends went out ``p99_ms`` late (p99), at a latency p50."""
    rep = repeat(10.0)
    rep.latency_ms = {"p50": p50_ms}
    rep.lateness_ms = {"p50": 0.01, "p99": p99_ms, "max": p99_ms, "count": 100}
    return rep


def lateness_flagged(rep):
    return any(w.startswith("send lateness") for w in client_warnings(rep))


def test_send_lateness_past_a_tenth_of_the_p50_or_a_millisecond_is_flagged():
    assert lateness_flagged(late(0.6, 5.0))  # 12% of the p50
    assert lateness_flagged(late(1.5, 50.0))  # over 1 ms
    assert not lateness_flagged(late(0.3, 5.0))  # 6% of the p50, under 1 ms
    assert not lateness_flagged(repeat(10.0))  # closed loop: no lateness recorded


def test_the_old_loop_lag_timer_flags_nothing():
    rep = repeat(10.0)
    rep.clients.max_loop_lag_ms = 500.0  # as a version 1 file may hold it
    assert client_warnings(rep) == []


def test_harness_errors_are_flagged():
    rep = repeat(10.0)
    rep.counts.negative_latency = 2
    rep.counts.sent_early = 1
    (warning,) = client_warnings(rep)
    assert warning.startswith("harness error: 2 deliveries arrived before their send time, 1")


def test_deliveries_to_receivers_that_left_are_reported_not_lost():
    rep = repeat(10.0)
    rep.counts.receiver_gone = 7
    rep.counts.disconnected = 1
    warnings = client_warnings(rep)
    assert any(w.startswith("7 deliveries were owed to clients that had left") for w in warnings)
    assert not any("lost" in w and "not lost" not in w for w in warnings)


def test_failed_reconnects_are_flagged():
    rep = repeat(10.0)
    rep.counts.reconnects, rep.counts.reconnect_failures = 9, 3
    assert "3 of 12 reconnects failed: those clients stayed away" in " ".join(client_warnings(rep))
    rep.counts.reconnect_failures = 0
    assert not any("reconnect" in w for w in client_warnings(rep))


def machine_repeat(cpu_percent: float) -> Repeat:
    rep = repeat(10.0)
    rep.machine = MachineSummary(cores=2, cpu_percent=cpu_percent, client_wait_percent=[20.0])
    return rep


def test_warnings_print_once_per_kind_with_their_count():
    """Six "machine saturated" warnings with different figures are one line that counts
    them, names the points and says what to do; another kind keeps a line of its own."""
    flagged = [
        (label, warning)
        for label in ("sync clients=10", "async clients=10", "sync clients=20")
        for cpu in (95.0, 97.0)
        for warning in client_warnings(machine_repeat(cpu))
    ]
    flagged.append(("async clients=10", "3 of 40 broadcasts lost (7.50%)"))
    lines = summary_lines(flagged)
    assert len(lines) == 2
    saturated_line = next(line for line in lines if "machine saturated" in line)
    assert "6" in saturated_line.split(":")[0]
    assert "sync clients=20" in saturated_line and "cores" in saturated_line
    assert lines[1].startswith("async clients=10: 3 of 40")


def test_a_warning_said_once_names_its_point():
    assert summary_lines([("async", "2 malformed frames")]) == ["async: 2 malformed frames"]
