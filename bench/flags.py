"""Flags on a repeat: what says its numbers describe the load generator rather than the
server, or that something went wrong around the measurement (loss, failed connections,
compression declined)."""

from __future__ import annotations

from bench.results import Repeat

# A client process above this share of one core describes the client, not the server.
CLIENT_SATURATED_CPU = 0.90
CLIENT_LAG_WARN_MS = 100.0
# Past this share of the calibrated ceiling, the client may be what limits the rate.
CEILING_WARN_FRACTION = 0.8


def client_warnings(repeat: Repeat) -> list[str]:
    """Every flag that applies to ``repeat``, one sentence each."""
    out = []
    clients, counts = repeat.clients, repeat.counts
    assert clients is not None and counts is not None
    busiest = max(clients.cpu_percent, default=0.0)
    server_cpu = repeat.server.cpu_mean_percent if repeat.server else None
    # Near a full core, or busier than the server it drives while using half a core or
    # more (on a shared 2-core machine neither side may get a full core).
    busier_than_server = server_cpu is not None and busiest >= max(server_cpu, 50.0)
    if busiest >= 100 * CLIENT_SATURATED_CPU or busier_than_server:
        server_note = f" (the server used {server_cpu:.0f}%)" if server_cpu is not None else ""
        out.append(
            f"client saturated: a client process used {busiest:.0f}% of a core"
            f"{server_note}; these numbers describe the load generator, not the server "
            "(use more client_processes or fewer clients)"
        )
    fraction = repeat.ceiling_fraction
    if fraction is not None and fraction >= CEILING_WARN_FRACTION:
        out.append(
            f"throughput is {fraction:.0%} of the load generator's ceiling: "
            "the client may be the limit"
        )
    if clients.max_loop_lag_ms >= CLIENT_LAG_WARN_MS:
        out.append(
            f"client event loop lagged {clients.max_loop_lag_ms:.0f} ms; "
            "open-loop send times may have slipped"
        )
    if repeat.compression_offered and counts.compressed < counts.connected:
        out.append(
            f"compression offered, but only {counts.compressed} of {counts.connected} "
            "connections negotiated permessage-deflate (the server declined it): frames "
            "went uncompressed"
        )
    if counts.connect_failures:
        out.append(
            f"{counts.connect_failures} of {counts.clients} clients failed to "
            f"connect: {repeat.connect_errors}"
        )
    if counts.lost:
        out.append(f"{counts.lost} of {counts.expected} broadcasts lost ({repeat.loss_ratio:.2%})")
    if counts.malformed or counts.disconnected:
        out.append(
            f"{counts.malformed} malformed frames, {counts.disconnected} clients "
            "disconnected by the server"
        )
    return out
