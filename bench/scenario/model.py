"""Scenarios: TOML files that name a matrix of points to measure.

A scenario file has a ``name``, a ``description``, a ``[matrix]`` table whose values are
one value or a list of values (lists are crossed into points), and optionally a
``[search]`` table that turns it into a saturation search over ``rate``. Every key can be
overridden from the command line with ``--set key=v1,v2``.

A point's keys say three things apart: what runs (``consumer``: the tutorial's sync or
async flavour), what it does (``workload`` and the load the clients put on it) and where
it runs (``server``, ``layer`` and their settings). A new server, workload or environment
is a new key or value here, never a special case in the runner.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from bench.deploy.own_site import OwnSite
from bench.deploy.servers import DEFAULT_SERVER, SERVERS
from bench.deploy.site import (
    CONSUMERS,
    DEFAULT_CAPACITY,
    DEFAULT_LAYER,
    DEFAULT_LOOP,
    FAULTS,
    LAYERS,
    LOOPS,
)
from bench.deploy.workloads import DATABASES, WORKLOADS
from bench.protocols import DEFAULT_PROTOCOL
from bench.results.record import Record

MODES = ("closed", "open")
# What a scenario key's value can be (``PARAMS`` says which, key by key).
Value = str | int | float | bool
ARRIVALS = ("constant", "poisson")
ALLOCATORS = ("pymalloc", "malloc")
PROFILES = ("none", "cpu", "memory")


@dataclass(frozen=True)
class Point(Record):
    """One configuration to measure: what runs, what it does, where it runs.

    Carried whole from the scenario to the server (``ServerSettings``), the client pool
    (``WorkerPlan``) and the result (``PointResult.point``); its fields are the scenario's
    keys, so adding a setting is one field here and the code that uses it."""

    # What runs: the consumer flavour, or a route the scenario names ([consumers.NAME]).
    consumer: str = "async"
    # What it does: the workload (bench.deploy.workloads) and its size: blocking's call in ms,
    # cpu's work per message in µs of CPU; where the orm workloads write (the private
    # PostgreSQL or DATABASE_URL, or SQLite), Django's CONN_MAX_AGE (0: closed after every
    # handler, Django's default; seconds: kept), the orm-native consumer's pool size.
    workload: str = "chat"
    work_ms: float = 10.0
    work_us: float = 1000.0
    database: str = "postgres"
    conn_max_age: int = 0
    db_pool_size: int = 10
    # Unmeasured neighbours in the same server: neighbour_clients more clients on another
    # route ("sync/orm": flavour/workload), open loop at neighbour_rate messages/s each, in
    # rooms of their own (does a sync consumer's work stall the async ones?).
    neighbour: str = "none"
    neighbour_clients: int = 10
    neighbour_rate: float = 10.0
    # The clients' load on it.
    clients: int = 10
    # Rooms the clients are spread over, round-robin; clients_per_room, when set, wins.
    rooms: int = 1
    clients_per_room: int = 0
    mode: str = "closed"
    # Messages per second per client, open loop only.
    rate: float = 10.0
    arrival: str = "constant"
    message_bytes: int = 64
    # What the clients say, by dotted path (module:Class; bench.protocols): the
    # tutorial's chat by default.
    protocol: str = DEFAULT_PROTOCOL
    warmup_s: float = 1.0
    duration_s: float = 5.0
    repeats: int = 1
    # Where it runs: the server kind, the channel layer and their settings: the layer's
    # per-channel capacity (Channels' default is 100) and how fast clients connect. (No
    # thread-pool key: the sync consumer and the async one's sync_to_async hops both run
    # on asgiref's one thread-sensitive executor, which ASGI_THREADS does not size.)
    server: str = DEFAULT_SERVER
    # The server's event loop, and its worker processes (rooms span them on Redis only).
    loop: str = DEFAULT_LOOP
    workers: int = 1
    layer: str = DEFAULT_LAYER
    capacity: int = DEFAULT_CAPACITY
    connect_rate: float = 0.0
    # Load generator: client processes (0: one per 5,000 clients) and permessage-deflate.
    client_processes: int = 0
    compression: bool = False
    monitor_hz: float = 10.0
    # The drain ends when nothing has arrived for drain_quiet_s, or after drain_max_s.
    drain_quiet_s: float = 1.0
    drain_max_s: float = 10.0
    # Churn and leaks (docs/leaks.md): cycles > 0 makes the point cycles of connect the
    # clients, exchange messages, disconnect all, settle settle_s (0: as the server
    # kind's own timers need, bench/run/churn.py), in one server process, counters read
    # after each; the first warmup_cycles are not judged. messages caps what each client
    # sends per cycle, churn or not (0: no cap, the window decides).
    cycles: int = 0
    warmup_cycles: int = 2
    messages: int = 0
    settle_s: float = 0.0
    # The server's allocator: Python's own (pymalloc), or malloc for every object with
    # glibc held to 2 arenas (PYTHONMALLOC=malloc, MALLOC_ARENA_MAX=2): memory the
    # allocator keeps after a churn cycle then shows apart from objects kept alive.
    allocator: str = "pymalloc"
    # The staircase of idle connections (docs/leaks.md): idle_max > 0 makes the point hold
    # 0, then idle_max / 2^(idle_steps - 1) ... idle_max idle connections in one server,
    # reading its memory and idle CPU (over idle_hold_s) at each step: KiB per connection.
    idle_max: int = 0
    idle_steps: int = 5
    idle_hold_s: float = 3.0
    # Churn under load (docs/leaks.md): during an open-loop load, reconnect_per_s clients a
    # second (spread over the workers) close their websocket, reconnect, rejoin their room
    # and go on sending; what was sent to a client while it was away is owed to nobody.
    reconnect_per_s: float = 0.0
    # Soak (docs/leaks.md): sample_s > 0 makes the point one steady load of warmup_s +
    # duration_s in one server, the churn counters read every sample_s and judged per
    # sample (the first warmup_cycles samples are not judged); the site's probe, which
    # pauses the server to collect its garbage, at every probe_every-th sample (0: never).
    sample_s: float = 0.0
    probe_every: int = 1
    # Testing the harness: a fault injected into the async consumer (consumers/chat/faults.py).
    fault: str = "none"
    # The Python environment the server runs from: chanbench's own, or an [envs.NAME].
    env: str = "current"
    # Profile the server during the measured window (bench.run.profiling): "cpu" samples
    # every process of its tree with py-spy at profile_rate Hz (py-spy's default, 100).
    profile: str = "none"
    profile_rate: int = 100

    @property
    def route(self) -> str:
        """The consumer's route: its flavour, or the fault that wraps the async one."""
        return self.consumer if self.fault == "none" else self.fault

    @property
    def neighbour_route(self) -> tuple[str, str] | None:
        """The neighbours' (flavour, workload), or None."""
        if self.neighbour == "none":
            return None
        flavour, _, workload = self.neighbour.partition("/")
        return flavour, workload

    @property
    def writes(self) -> bool:
        """Whether the measured clients' messages are saved to the database."""
        return WORKLOADS[self.workload].writes

    @property
    def neighbours_write(self) -> bool:
        route = self.neighbour_route
        return route is not None and WORKLOADS[route[1]].writes

    @property
    def needs_database(self) -> bool:
        return self.writes or self.neighbours_write

    @property
    def room_count(self) -> int:
        if self.clients_per_room:
            return max(1, math.ceil(self.clients / self.clients_per_room))
        return self.rooms

    @property
    def churn(self) -> bool:
        """Whether the point is a churn run, a staircase of idle connections or a soak
        (the server serves its probe for each)."""
        return self.cycles > 0 or self.idle_max > 0 or self.sample_s > 0

    @property
    def idle_counts(self) -> list[int]:
        """The staircase's steps: 0, then doubling up to ``idle_max``."""
        if not self.idle_max:
            return []
        steps = [self.idle_max >> k for k in reversed(range(self.idle_steps))]
        return [0, *sorted({n for n in steps if n > 0})]

    @property
    def fault_consumers(self) -> bool:
        """Whether the server routes the fault-injecting consumers."""
        return self.fault != "none"

    def value(self, key: str) -> Any:
        """The value of the scenario key ``key``: for code that goes over keys by name
        (what varies, what matches); elsewhere read the attribute."""
        if key not in PARAMS:
            raise KeyError(key)
        return getattr(self, key)

    def label(self, keys: Sequence[str], system: str | None = None) -> str:
        """A short name from the keys that vary in the scenario, e.g. ``async clients=10``;
        ``system`` names what ran instead of the route (``target``: a server not started
        by chanbench, whose consumer it does not know)."""
        parts = [system or self.route]
        parts += [f"{key}={getattr(self, key)}" for key in keys if key not in ("consumer", "fault")]
        return " ".join(parts)


# The scenario's keys, in the Point's order, and the type each takes.
PARAMS: dict[str, type] = {f.name: type(f.default) for f in fields(Point)}
KEYS = tuple(PARAMS)
# Keys whose values are measured repeat by repeat in turn rather than one after another,
# so that drift on a shared machine hits every value alike.
# (profile: so that py-spy's cost, profiled against not, meets the same drift.)
INTERLEAVED = ("consumer", "env", "profile")
ALLOWED: dict[str, tuple[str, ...]] = {
    "consumer": CONSUMERS,
    "workload": tuple(WORKLOADS),
    "database": DATABASES,
    "env": ("current",),
    "loop": LOOPS,
    "neighbour": ("none", *(f"{c}/{w}" for c in CONSUMERS for w in WORKLOADS)),
    "server": tuple(SERVERS),
    "fault": FAULTS,
    "layer": LAYERS,
    "mode": MODES,
    "arrival": ARRIVALS,
    "allocator": ALLOCATORS,
    "profile": PROFILES,
}
# (minimum, whether the minimum itself is allowed) for numeric keys.
MINIMUM: dict[str, tuple[float, bool]] = {
    "clients": (1, True),
    "work_ms": (0, True),
    "work_us": (0, True),
    "conn_max_age": (0, True),
    "db_pool_size": (1, True),
    "workers": (1, True),
    "neighbour_clients": (1, True),
    "neighbour_rate": (0, False),
    "rooms": (1, True),
    "clients_per_room": (0, True),
    "rate": (0, False),
    "message_bytes": (0, True),
    "warmup_s": (0, True),
    "duration_s": (0, False),
    "repeats": (1, True),
    "capacity": (1, True),
    "connect_rate": (0, True),
    "client_processes": (0, True),
    "monitor_hz": (0, True),
    "drain_quiet_s": (0, False),
    "drain_max_s": (0, False),
    "cycles": (0, True),
    "warmup_cycles": (0, True),
    "messages": (0, True),
    "settle_s": (0, True),
    "idle_max": (0, True),
    "idle_steps": (1, True),
    "idle_hold_s": (0, False),
    "reconnect_per_s": (0, True),
    "sample_s": (0, True),
    "probe_every": (0, True),
    "profile_rate": (1, True),
}


@dataclass(frozen=True)
class Search(Record):
    """A saturation search: step ``rate`` up until p99 latency or loss passes a bound."""

    p99_ms: float = 100.0
    loss: float = 0.001


@dataclass(frozen=True)
class CustomLayer(Record):
    """A channel layer by its dotted path (``[layers.NAME]``: ``BACKEND`` and ``CONFIG``),
    its CONFIG naming the services it needs: ``"{database}"`` (the run's PostgreSQL, as
    Django's ``DATABASES`` entry), ``{database_url}``, ``{redis_url}``."""

    backend: str = ""
    config: Any = field(default_factory=dict)

    @property
    def config_json(self) -> str:
        return json.dumps(self.config)

    @property
    def uses_database(self) -> bool:
        return "{database" in self.config_json

    @property
    def uses_redis(self) -> bool:
        return "{redis_url}" in self.config_json

    @property
    def app(self) -> str:
        """Its top-level package: the Django app whose tables it may keep messages in."""
        return self.backend.split(".")[0]


@dataclass(frozen=True)
class CustomEnv(Record):
    """A Python environment for the server (``[envs.NAME]``): requirement pins installed
    over what the site needs (``requirements``), or an existing interpreter (``python``);
    with ``source``, a checkout installed into it (editable), whose ``consumers/`` site,
    if it has one, is the one served."""

    requirements: tuple[str, ...] = ()
    python: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class CustomConsumer(Record):
    """A route the scenario names (``[consumers.NAME]``), chosen by ``consumer = NAME``:
    its path, with ``{room}`` (and ``{client}``) where they go."""

    path: str = ""


@dataclass
class Scenario(Record):
    """A scenario as read (its matrix after ``--set`` overrides); recorded whole with the
    run (``Run.scenario``)."""

    name: str = ""
    description: str = ""
    matrix: dict[str, list[Value]] = field(default_factory=dict)
    path: str | None = None
    search: Search | None = None
    overrides: dict[str, list[Value]] = field(default_factory=dict)
    layers: dict[str, CustomLayer] = field(default_factory=dict)
    envs: dict[str, CustomEnv] = field(default_factory=dict)
    # Where the client workers run: a Dask scheduler (tcp://HOST:PORT) or local:N; None
    # for local processes (``--cluster`` overrides it; docs/cluster.md).
    cluster: str | None = None
    # Where chanbench's servers listen (an IP address; None: 127.0.0.1) and the host the
    # clients connect to (None: the bind address); --bind, --advertise (bench.deploy.listen).
    bind: str | None = None
    advertise: str | None = None
    consumers: dict[str, CustomConsumer] = field(default_factory=dict)
    # The user's own Django project, served instead of chanbench's chat site (--site).
    site: OwnSite | None = None
    # Each protocol's recipients, as read when the scenario was (for the report).
    recipients: dict[str, str] = field(default_factory=dict)

    def varying(self) -> list[str]:
        """The keys with more than one value, in matrix order."""
        return [key for key, values in self.matrix.items() if len(values) > 1]

    def points(self) -> list[Point]:
        """The matrix crossed into points; the interleaved keys vary fastest, so that
        sync and async at the same load are measured next to each other."""
        keys = [k for k in self.matrix if k not in INTERLEAVED]
        keys += [k for k in INTERLEAVED if k in self.matrix]
        points = []
        for values in itertools.product(*(self.matrix[key] for key in keys)):
            # The values were checked against PARAMS' types when the scenario was read.
            chosen: dict[str, Any] = dict(zip(keys, values, strict=True))
            points.append(replace(Point(), **chosen))
        return points

    def run_name(self, target: str | None = None) -> str:
        """What a result file is named after: the scenario, and what the command line
        changed, so that two different runs of one file are never confused."""
        parts = [self.name, *(f"{k}={','.join(map(str, v))}" for k, v in self.overrides.items())]
        if target:
            parts.append("target")
        return "+".join(parts)
