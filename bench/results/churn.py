"""A churn run's record: its cycles, the counters read after each, and a verdict per
counter (``bench.judge.leaks`` judges; ``bench.run.churn`` measures). A soak
(``bench.run.soak``) is the same record: its samples are the cycles, read every
``sample_s`` during one steady load.

The counter registry (``COUNTERS``) says, once, what each counter is: its unit, where it
is read (``proc``: the server's whole process tree from outside; ``probe``: inside the
server, only where chanbench serves its site; ``redis``: the run's Redis), and how it is
judged: ``slope`` (a Theil-Sen slope per cycle against a tolerance per connection-cycle),
``baseline`` (a count that must come back after every cycle: a leak when every delta
after the warm-up is at least 1, CPython's ``-R`` rule), or ``recorded`` (kept, not
judged).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.results.record import Record

VERDICTS = ("leak", "flat", "inconclusive")


@dataclass(frozen=True)
class Counter:
    name: str
    label: str
    unit: str
    where: str  # proc, probe or redis
    rule: str  # slope, baseline or recorded
    # Slope rule: what growth per connection-cycle is still noise (docs/leaks.md has the
    # control run each value comes from).
    tolerance_per_connection: float = 0.0


# Tolerances from the no-leak controls on a shared 2-core VM (docs/leaks.md, "Tolerance"):
# scenarios/churn.toml's 12 points (50 clients, 9 judged cycles) put the upper end of
# every RSS and USS interval at or below 4.7 KiB per connection-cycle; 8 KiB clears that
# with room, and is an eighth of the planted leak. Blocks and objects: the controls
# without channels_redis' core layer stay at or below 1.4 per connection-cycle.
MEMORY_TOLERANCE_BYTES = 8192.0
COUNTERS: dict[str, Counter] = {
    c.name: c
    for c in (
        Counter("rss_bytes", "RSS", "bytes", "proc", "slope", MEMORY_TOLERANCE_BYTES),
        Counter("uss_bytes", "USS", "bytes", "proc", "slope", MEMORY_TOLERANCE_BYTES),
        # Recorded, not judged: a page's share moves with every process on the machine
        # that maps the same file (libpython), so PSS drifts on a shared machine.
        Counter("pss_bytes", "PSS", "bytes", "proc", "recorded"),
        Counter("open_fds", "open fds", "fds", "proc", "baseline"),
        Counter("threads", "threads", "threads", "proc", "baseline"),
        Counter("allocated_blocks", "allocated blocks", "blocks", "probe", "slope", 2.0),
        Counter("gc_objects", "gc objects", "objects", "probe", "slope", 2.0),
        Counter("asyncio_tasks", "asyncio tasks", "tasks", "probe", "baseline"),
        Counter("layer_channels", "layer channels", "channels", "probe", "baseline"),
        Counter("layer_groups", "layer groups", "groups", "probe", "baseline"),
        Counter("layer_receive_buffer", "receive buffer", "entries", "probe", "baseline"),
        Counter("redis_connected_clients", "Redis clients", "clients", "redis", "baseline"),
        Counter("redis_used_memory", "Redis memory", "bytes", "redis", "slope", 256.0),
        Counter("redis_keys", "Redis keys", "keys", "redis", "baseline"),
        # Recorded, not judged: how long the probe held the server's event loop (its
        # gc.collect()), the pause a soak's sample costs the load.
        Counter("probe_pause_ms", "probe pause", "ms", "probe", "recorded"),
    )
}


@dataclass
class Cycle(Record):
    """One cycle: what its clients did (the books, as a repeat's), and the counters read
    after it settled. A soak's sample: the load's running totals (``sent``,
    ``delivered``, ``reconnects``) when it was read, ``t_s`` into the load, and how long
    each source took to read (``read_ms``: the probe collects the server's garbage
    meanwhile)."""

    index: int = 0
    connected: int = 0
    connect_failures: int = 0
    sent: int = 0
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duration_s: float = 0.0
    counters: dict[str, float] = field(default_factory=dict)
    t_s: float | None = None
    read_ms: dict[str, float] = field(default_factory=dict)  # by source: proc, probe, redis
    reconnects: int = 0


@dataclass
class Verdict(Record):
    """One counter's verdict over the judged cycles; the interval is a 95% one on the
    slope per cycle, ``per_connection`` the slope over the clients of a cycle."""

    metric: str = ""
    verdict: str = ""
    rule: str = ""
    unit: str = ""
    slope_per_cycle: float | None = None
    per_connection: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    tolerance_per_cycle: float | None = None
    # Inconclusive: how many more cycles would likely decide it (None: none would).
    more_cycles: int | None = None
    note: str = ""


@dataclass
class Churn(Record):
    """A churn repeat: its cycles in one server process, their counters and verdicts; or
    a soak's (``kind``): its samples every ``sample_s`` of one steady load."""

    kind: str = "churn"  # or "soak"
    clients: int = 0
    warmup_cycles: int = 0
    # How long each cycle waited after the last disconnect before reading, and why.
    settle_s: float = 0.0
    settle_reason: str = ""
    cycles: list[Cycle] = field(default_factory=list)
    # Counters that could not be read, and why (a --target server, a site without the
    # probe, no Redis).
    unavailable: dict[str, str] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    # A soak: how often it was read, and what a verdict's per_connection divides the
    # slope per sample by (``connections_per_sample``: the reconnects of a sample, or the
    # clients held where none reconnect), in words (``per``).
    sample_s: float | None = None
    connections_per_sample: float | None = None
    per: str = "connection-cycle"

    @property
    def connections(self) -> float:
        """What a verdict's ``per_connection`` divided its slope by: the clients of a
        cycle, or a soak's connections per sample."""
        if self.kind == "soak" and self.connections_per_sample:
            return self.connections_per_sample
        return float(self.clients)

    @property
    def step(self) -> str:
        """What one reading is called: a cycle, or a soak's sample."""
        return "sample" if self.kind == "soak" else "cycle"

    def series(self, metric: str) -> list[float | None]:
        return [c.counters.get(metric) for c in self.cycles]

    def verdict(self, metric: str) -> Verdict | None:
        return next((v for v in self.verdicts if v.metric == metric), None)


@dataclass
class Step(Record):
    """One step of the staircase: the idle connections held, how they got there, and
    the server's counters and idle CPU while they were held."""

    connections: int = 0
    connect_failures: int = 0
    connect_s: float = 0.0
    connects_per_s: float | None = None
    # The step's handshakes: p50, p90, p99, p99.9 and max, in ms (empty: none made).
    connect_ms: dict[str, float | None] = field(default_factory=dict)
    idle_cpu_percent: float | None = None
    counters: dict[str, float] = field(default_factory=dict)


@dataclass
class Staircase(Record):
    """Idle connections held in steps in one server, and the memory each costs: the
    Theil-Sen slope of RSS against the connections held, with its 95% interval."""

    steps: list[Step] = field(default_factory=list)
    rss_per_connection: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    # Where it stopped short of idle_max, and why (None: every step held).
    stopped: str | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
