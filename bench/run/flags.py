"""Flags on a repeat: what says its numbers describe the load generator rather than the
server, or that something went wrong around the measurement (loss, failed connections,
compression declined)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bench.results.model import Repeat

# A client process above this share of one core describes the client, not the server.
CLIENT_SATURATED_CPU = 0.90
# Open loop: sends this late (p99) are part of the latencies measured: past 10% of the
# latency p50, or past 1 ms, the client's slip is a visible share of them.
LATENESS_SHARE_OF_P50 = 0.10
LATENESS_WARN_MS = 1.0
# Past this share of the calibrated ceiling, the client may be what limits the rate.
CEILING_WARN_FRACTION = 0.8
# The machine is the limit when its cores are this busy, or a client process waited for a
# core this share of the window.
MACHINE_SATURATED_CPU = 90.0
CLIENT_WAIT_WARN_PERCENT = 10.0


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
    machine = repeat.machine
    if machine is not None:
        waited = max(machine.client_wait_percent, default=0.0)
        cpu = machine.cpu_percent or 0.0
        if cpu >= MACHINE_SATURATED_CPU or waited > CLIENT_WAIT_WARN_PERCENT:
            out.append(
                f"machine saturated: all {machine.cores} cores {cpu:.0f}% busy, a client "
                f"process waited {waited:.0f}% of the window for a core; clients, server "
                "and services starve each other, so these numbers describe this machine "
                "(to measure the server, give it more cores than it, its services and the "
                "client_processes need, or lower clients or workers)"
            )
    fraction = repeat.ceiling_fraction
    if fraction is not None and fraction >= CEILING_WARN_FRACTION:
        out.append(
            f"throughput is {fraction:.0%} of the load generator's ceiling: "
            "the client may be the limit"
        )
    late_p99, p50 = repeat.lateness_ms.get("p99"), repeat.latency_ms.get("p50")
    if late_p99 is not None and (
        late_p99 > LATENESS_WARN_MS or (p50 is not None and late_p99 > LATENESS_SHARE_OF_P50 * p50)
    ):
        share = f" ({late_p99 / p50:.0%} of the latency p50)" if p50 else ""
        out.append(
            f"send lateness p99 {late_p99:.3g} ms{share}: the client sent late, "
            "latencies include it"
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
        cause = f": {repeat.layer_drops.cause()}" if repeat.layer_drops else ""
        out.append(
            f"{counts.lost} of {counts.expected} broadcasts lost ({repeat.loss_ratio:.2%}){cause}"
        )
    if counts.malformed or counts.disconnected:
        out.append(
            f"{counts.malformed} malformed frames, {counts.disconnected} clients "
            "disconnected by the server"
        )
    database = repeat.database
    if database is not None and database.lost_writes:
        out.append(
            f"{database.lost_writes} of {database.sent} messages were never written to "
            f"the database ({database.kind}: {database.rows} rows): lost writes"
        )
    if counts.receiver_gone:
        out.append(
            f"{counts.receiver_gone} deliveries were owed to clients that had left "
            "(receiver gone): not expected, not lost"
        )
    if counts.reconnect_failures:
        tried = counts.reconnects + counts.reconnect_failures
        out.append(
            f"{counts.reconnect_failures} of {tried} reconnects failed: those clients stayed "
            "away for the rest of the load (why: connect_errors, 'reconnect: ...')"
        )
    if counts.negative_latency or counts.sent_early:
        out.append(
            f"harness error: {counts.negative_latency} deliveries arrived before their "
            f"send time, {counts.sent_early} sends went out before their intended time; "
            "left out of the histograms, the latencies are suspect"
        )
    return out


# Numbers, so that "95% busy" and "97% busy" are one kind of warning.
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def summary_lines(flagged: Sequence[tuple[str, str]]) -> list[str]:
    """One line per kind of warning among (point label, warning) pairs, in the order
    first seen: the first one's words, and how many repeats of which points said it.
    Six "machine saturated" lines after a run on a 2-core machine would bury the table."""
    kinds: dict[str, list[tuple[str, str]]] = {}
    for label, text in flagged:
        kinds.setdefault(_NUMBER.sub("#", text), []).append((label, text))
    lines = []
    for said in kinds.values():
        label, text = said[0]
        if len(said) == 1:
            lines.append(f"{label}: {text}")
            continue
        labels = list(dict.fromkeys(label for label, _ in said))
        where = ", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3 else "")
        lines.append(f"{len(said)} repeats ({where}): {text}")
    return lines
