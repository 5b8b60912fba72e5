"""The flags that say a repeat's numbers describe the client, not the server."""

from bench.flags import client_warnings
from bench.results import ClientSummary, MonitorSummary, Repeat, RepeatCounts


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
