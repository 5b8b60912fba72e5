"""Checks before anything starts: a point this machine or its server cannot serve (open
files, local ports, cores for the client processes) is refused with one line (a
``--target``'s own checks are in ``target``)."""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Mapping, Sequence
from operator import itemgetter
from pathlib import Path

from bench.deploy.processes import raise_open_file_limit
from bench.deploy.servers import SERVERS
from bench.errors import UserError
from bench.loadgen.pool import CLIENTS_PER_PROCESS, Placement, plan_workers
from bench.scenario import CustomLayer, Point

# Open files a process needs besides its clients' sockets: Daphne starts with about 12,
# a client process with about 17 (Python, uvloop, numpy, its pipe); four times that.
OPEN_FILES_MARGIN = 64
# channels_redis shares its connections between a process's consumers (one per client
# was assumed, and refused 10,000 Redis clients under a 20,000 limit): at 2,000 clients
# Daphne held 2,013 to 2,063 files on the Redis layers, 2,014 on the in-memory one.
LAYER_POOL_FILES = 64
# A chat message wraps the padding in under 100 bytes of JSON.
MESSAGE_ENVELOPE_BYTES = 128
# Each client's connection to the server's one port takes a local port of this range;
# some are left for everything else on the machine (Redis, PostgreSQL, other programs).
PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
PORTS_MARGIN = 1000


def check_limits(
    source: str, points: Sequence[Point], target: bool = False, cluster: Placement | None = None
) -> None:
    """Refuse a point that needs more open files than we may have, or a message larger
    than its server accepts.

    Raises the soft open-file limit to the hard one first (the servers and client
    processes we start inherit it); what is left over must fit every client's socket.
    The clients' own limits (their files, local ports, cores) are this machine's unless
    they run on a cluster's hosts (``--cluster tcp://...``): those are the load hosts'.
    """
    soft, hard = raise_open_file_limit()
    clients_here = cluster is None or cluster.clients_here()
    for point in points:
        shares = plan_workers(point, "", "", 0) if clients_here else []
        biggest_share = max((len(plan.clients) for plan in shares), default=0)
        # The server holds a socket per client (a staircase: per idle connection at its
        # top step), and on Redis its layer's connection pool beside them.
        key, held = max(("clients", point.clients), ("idle_max", point.idle_max), key=itemgetter(1))
        pool = 0 if point.layer == "memory" else LAYER_POOL_FILES
        server_files = 0 if target else held + pool
        needed = max(server_files, biggest_share) + OPEN_FILES_MARGIN
        if needed > soft:
            where = "the server" if server_files >= biggest_share else "a client process"
            raise UserError(
                f"{source}: {key} = {held} needs about {needed} open files in "
                f"{where}, but the open-file limit is {soft} (hard limit {hard}); raise the "
                f"hard limit (ulimit -Hn {needed}, as root) or use fewer clients"
            )
        if clients_here:
            check_machine(source, point)
        if not target and point.env == "current":  # an environment installs its own
            check_installed(point.server)
        limit = None if target else SERVERS[point.server].max_message_bytes
        if limit is not None and point.message_bytes > limit - MESSAGE_ENVELOPE_BYTES:
            raise UserError(
                f"{source}: message_bytes = {point.message_bytes}: {point.server} closes "
                f"websockets whose messages are over {_size(limit)}; use at most "
                f"{limit - MESSAGE_ENVELOPE_BYTES}"
            )


def check_machine(source: str, point: Point) -> None:
    """Refuse a point whose clients this machine cannot connect: more connections to one
    server port than local ports, or more client processes' worth of clients than the
    cores beside the server's (they starve each other and the server, and take longer to
    connect than a repeat waits: on 2 cores, 5,000 clients in one process connected in
    19 s; 10,000 in two, and 19,000 in four, failed every repeat)."""
    connections = point.clients + (point.neighbour_clients if point.neighbour_route else 0)
    ports = local_ports()
    if ports is not None and connections > ports[1] - ports[0] + 1 - PORTS_MARGIN:
        usable = max(0, ports[1] - ports[0] + 1 - PORTS_MARGIN)
        raise UserError(
            f"{source}: clients = {point.clients} needs {connections:,} connections to one "
            f"server port, but {PORT_RANGE} gives {ports[0]}-{ports[1]}, about {usable:,} "
            "usable local ports; use fewer clients, or widen it (as root: sysctl -w "
            "net.ipv4.ip_local_port_range='1024 65535')"
        )
    cores = usable_cores()
    processes = math.ceil(point.clients / CLIENTS_PER_PROCESS)
    if processes > max(1, cores - 1):
        most = max(1, cores - 1) * CLIENTS_PER_PROCESS
        raise UserError(
            f"{source}: clients = {point.clients} needs {processes} client processes of at "
            f"most {CLIENTS_PER_PROCESS:,} clients, but this machine gives chanbench {cores} "
            f"cores, one of them the server's; use at most {most:,} clients here, or a "
            "machine with more cores"
        )


def local_ports() -> tuple[int, int] | None:
    """The kernel's range of local ports for outgoing connections (None: not Linux)."""
    try:
        low, high = (int(n) for n in PORT_RANGE.read_text().split())
    except (OSError, ValueError):
        return None
    return low, high


def usable_cores() -> int:
    """The cores this process may run on (its affinity), which its children inherit."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_installed(server: str) -> None:
    """Refuse a server kind whose declared packages this Python lacks, saying how to get
    them."""
    missing = [p for p in SERVERS[server].packages if importlib.util.find_spec(p.module) is None]
    if missing:
        names = ", ".join(p.name for p in missing)
        wanted = " ".join(repr(p.requirement) for p in missing)
        raise UserError(
            f"server = {server!r} needs {names}, which this Python lacks: pip install "
            f"{wanted} (or pip install 'chanbench[servers]')"
        )


def check_layers(layers: Mapping[str, CustomLayer]) -> None:
    """Refuse a layer by dotted path whose module this Python cannot import."""
    for name, layer in layers.items():
        module = layer.backend.rpartition(".")[0]
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise UserError(
                f"layers.{name}: BACKEND {layer.backend!r}: module {module} is not "
                f"installed; pip install the package that provides it (for example "
                f"{layer.app.replace('_', '-')})"
            )


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n:,} bytes"
