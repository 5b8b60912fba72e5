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

import difflib
import itertools
import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bench.errors import UserError
from bench.servers import SERVERS
from bench.site import CONSUMERS, DATABASE_WORKLOADS, DATABASES, FAULTS, LAYERS, LOOPS, WORKLOADS

MODES = ("closed", "open")
ARRIVALS = ("constant", "poisson")


@dataclass(frozen=True)
class Point:
    """One configuration to measure: what runs, what it does, where it runs."""

    # What runs: the consumer flavour.
    consumer: str = "async"
    # What it does: the workload (site.WORKLOADS) and its size: blocking's call in ms,
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
    warmup_s: float = 1.0
    duration_s: float = 5.0
    repeats: int = 1
    # Where it runs: the server kind, the channel layer and their settings: the layer's
    # per-channel capacity (Channels' default is 100) and how fast clients connect. (No
    # thread-pool key: the sync consumer and the async one's sync_to_async hops both run
    # on asgiref's one thread-sensitive executor, which ASGI_THREADS does not size.)
    server: str = "daphne"
    # The server's event loop, and its worker processes (rooms span them on Redis only).
    loop: str = "asyncio"
    workers: int = 1
    layer: str = "memory"
    capacity: int = 100
    connect_rate: float = 0.0
    # Load generator: client processes (0: one per 5,000 clients) and permessage-deflate.
    client_processes: int = 0
    compression: bool = False
    monitor_hz: float = 10.0
    # The drain ends when nothing has arrived for drain_quiet_s, or after drain_max_s.
    drain_quiet_s: float = 1.0
    drain_max_s: float = 10.0
    # Testing the harness: a fault injected into the async consumer (consumers/chat/faults.py).
    fault: str = "none"
    # The Python environment the server runs from: chanbench's own, or an [envs.NAME].
    env: str = "current"

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
        return self.workload in DATABASE_WORKLOADS

    @property
    def neighbours_write(self) -> bool:
        route = self.neighbour_route
        return route is not None and route[1] in DATABASE_WORKLOADS

    @property
    def needs_database(self) -> bool:
        return self.writes or self.neighbours_write

    @property
    def room_count(self) -> int:
        if self.clients_per_room:
            return max(1, math.ceil(self.clients / self.clients_per_room))
        return self.rooms

    def params(self) -> dict[str, Any]:
        return asdict(self)

    def label(self, keys: Sequence[str]) -> str:
        """A short name from the keys that vary in the scenario, e.g. ``async clients=10``."""
        parts = [self.route]
        parts += [f"{key}={getattr(self, key)}" for key in keys if key not in ("consumer", "fault")]
        return " ".join(parts)


PARAMS: dict[str, type] = {f.name: type(f.default) for f in fields(Point)}
# Keys whose values are measured repeat by repeat in turn rather than one after another,
# so that drift on a shared machine hits every value alike.
INTERLEAVED = ("consumer", "env")
ALLOWED: dict[str, tuple[str, ...]] = {
    "consumer": CONSUMERS,
    "workload": WORKLOADS,
    "database": DATABASES,
    "env": ("current",),
    "loop": LOOPS,
    "neighbour": ("none", *(f"{c}/{w}" for c in CONSUMERS for w in WORKLOADS)),
    "server": tuple(SERVERS),
    "fault": FAULTS,
    "layer": LAYERS,
    "mode": MODES,
    "arrival": ARRIVALS,
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
}


@dataclass(frozen=True)
class Search:
    """A saturation search: step ``rate`` up until p99 latency or loss passes a bound."""

    p99_ms: float = 100.0
    loss: float = 0.001


@dataclass(frozen=True)
class CustomLayer:
    """A channel layer by its dotted path (``[layers.NAME]``: ``BACKEND`` and ``CONFIG``),
    its CONFIG naming the services it needs: ``"{database}"`` (the run's PostgreSQL, as
    Django's ``DATABASES`` entry), ``{database_url}``, ``{redis_url}``."""

    backend: str
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
class CustomEnv:
    """A Python environment for the server (``[envs.NAME]``): requirement pins installed
    over what the site needs (``requirements``), or an existing interpreter (``python``);
    with ``source``, a checkout installed into it (editable), whose ``consumers/`` site,
    if it has one, is the one served."""

    requirements: tuple[str, ...] = ()
    python: str | None = None
    source: str | None = None


@dataclass
class Scenario:
    name: str
    description: str
    matrix: dict[str, list[Any]]
    path: str | None = None
    search: Search | None = None
    overrides: dict[str, list[Any]] = field(default_factory=dict)
    layers: dict[str, CustomLayer] = field(default_factory=dict)
    envs: dict[str, CustomEnv] = field(default_factory=dict)

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
            point = replace(Point(), **dict(zip(keys, values, strict=True)))
            points.append(point)
        return points

    def run_name(self, target: str | None = None) -> str:
        """What a result file is named after: the scenario, and what the command line
        changed, so that two different runs of one file are never confused."""
        parts = [self.name, *(f"{k}={','.join(map(str, v))}" for k, v in self.overrides.items())]
        if target:
            parts.append("target")
        return "+".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "path": self.path,
            "matrix": self.matrix,
            "overrides": self.overrides,
            "search": asdict(self.search) if self.search else None,
            "layers": {
                k: {"BACKEND": v.backend, "CONFIG": v.config} for k, v in self.layers.items()
            },
            "envs": {
                k: {"requirements": list(v.requirements), "python": v.python, "source": v.source}
                for k, v in self.envs.items()
            },
        }


def _where(source: str, key: str) -> str:
    return f"{source}: {key}"


def _suggest(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_value(
    source: str, key: str, value: Any, layers: Sequence[str] = (), envs: Sequence[str] = ()
) -> Any:
    """Return ``value`` as the type ``key`` takes, or raise a one-line ``UserError``
    (``layers``: the scenario's own layer names, allowed besides the built-in ones)."""
    kind = PARAMS[key]
    where = _where(source, key)
    if kind is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where} = {value!r}: must be true or false")
        return value
    if kind is str:
        extra = {"layer": layers, "env": envs}.get(key, ())
        allowed = (*ALLOWED[key], *extra)
        if not isinstance(value, str) or value not in allowed:
            hint = ""
            if key == "consumer" and value in FAULTS:
                hint = f" (faults have their own key: fault = {value!r})"
            raise UserError(f"{where} = {value!r}: must be one of {', '.join(allowed)}{hint}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"{where} = {value!r}: must be a number")
    raw = value
    if kind is int:
        if value != int(value):
            raise UserError(f"{where} = {value!r}: must be a whole number")
        value = int(value)
    else:
        value = float(value)
    if not math.isfinite(value):
        raise UserError(f"{where} = {raw!r}: must be a finite number")
    low, inclusive = MINIMUM[key]
    if value < low or (value == low and not inclusive):
        bound = f">= {low:g}" if inclusive else f"> {low:g}"
        raise UserError(f"{where} = {raw!r}: must be {bound}")
    return value


def _check_layers(source: str, raw: Any) -> dict[str, CustomLayer]:
    """``[layers.NAME]`` tables: a dotted ``BACKEND`` and its ``CONFIG``."""
    if not isinstance(raw, dict):
        raise UserError(f"{source}: layers must be a table of tables ([layers.NAME])")
    out = {}
    for name, table in raw.items():
        where = f"{source}: layers.{name}"
        if name in LAYERS:
            raise UserError(f"{where}: {name!r} is a built-in layer; give yours another name")
        if not isinstance(table, dict) or set(table) - {"BACKEND", "CONFIG"}:
            raise UserError(f"{where}: give BACKEND (a dotted path) and CONFIG, nothing else")
        backend = table.get("BACKEND")
        if not isinstance(backend, str) or "." not in backend:
            raise UserError(
                f"{where}: BACKEND = {backend!r}: give the layer class's dotted path, "
                'e.g. "channels_postgres.core.PostgresChannelLayer"'
            )
        out[name] = CustomLayer(backend, table.get("CONFIG", {}))
    return out


def _check_envs(source: str, raw: Any, base: Path) -> dict[str, CustomEnv]:
    """``[envs.NAME]`` tables: ``requirements`` (a list of pins) or ``python`` (a path),
    and optionally ``source`` (a checkout; relative to ``base``, the scenario's folder)."""
    if not isinstance(raw, dict):
        raise UserError(f"{source}: envs must be a table of tables ([envs.NAME])")
    out = {}
    for name, table in raw.items():
        where = f"{source}: envs.{name}"
        if name == "current":
            raise UserError(f"{where}: 'current' is chanbench's own; give yours another name")
        if not isinstance(table, dict) or not table or set(table) - set(_ENV_KEYS):
            raise UserError(
                f"{where}: give requirements (a list of pins), python (a path) or source "
                "(a checkout)"
            )
        reqs, python, tree = (table.get(key) for key in _ENV_KEYS)
        reqs = reqs or []
        if not isinstance(reqs, list) or not all(isinstance(r, str) for r in reqs):
            raise UserError(f"{where}: requirements must be a list of strings")
        for key, value in (("python", python), ("source", tree)):
            if value is not None and not isinstance(value, str):
                raise UserError(f"{where}: {key} must be a path (a string)")
        if python is not None and reqs:
            raise UserError(f"{where}: give requirements or python, one of the two")
        if tree is not None:
            tree = str((base / Path(tree).expanduser()).resolve())
            if not Path(tree).is_dir():
                raise UserError(f"{where}: source = {tree!r} is not a folder")
        out[name] = CustomEnv(tuple(reqs), python, tree)
    return out


_ENV_KEYS = ("requirements", "python", "source")


def parse_env_option(text: str) -> tuple[str, dict[str, str]]:
    """``--env NAME=PATH``: an interpreter (a file) or a checkout (a folder), as the
    ``[envs.NAME]`` table it stands for; a relative path is from the current folder."""
    name, sep, path = text.partition("=")
    name, path = name.strip(), path.strip()
    if not sep or not name or not path:
        raise UserError(f"--env {text!r}: write NAME=PATH (an interpreter or a checkout)")
    where = Path(path).expanduser().resolve()
    if where.is_dir():
        return name, {"source": str(where)}
    if where.is_file():
        return name, {"python": str(where)}
    raise UserError(f"--env {name}: {path} is neither an interpreter nor a folder")


def _check_matrix(
    source: str, raw: Mapping[str, Any], layers: Sequence[str] = (), envs: Sequence[str] = ()
) -> dict[str, list[Any]]:
    matrix: dict[str, list[Any]] = {}
    for key, value in raw.items():
        if key not in PARAMS:
            raise UserError(
                f"{source}: unknown key {key!r}{_suggest(key, list(PARAMS))}; "
                f"known keys: {', '.join(PARAMS)}"
            )
        values = value if isinstance(value, list) else [value]
        if not values:
            raise UserError(f"{_where(source, key)} = []: give at least one value")
        matrix[key] = [_check_value(source, key, v, layers, envs) for v in values]
    return matrix


def _check_points(source: str, scenario: Scenario) -> None:
    for point in scenario.points():
        if point.fault != "none" and point.consumer != "async":
            raise UserError(
                f"{source}: fault = {point.fault!r} with consumer = {point.consumer!r}: "
                'the faults wrap the async consumer; set consumer = "async"'
            )
        if point.workload == "orm-native" and point.database != "postgres":
            raise UserError(
                f"{source}: workload = 'orm-native' with database = {point.database!r}: "
                'the async-native driver is psycopg\'s; set database = "postgres"'
            )
        if point.workers > 1 and point.layer == "memory":
            raise UserError(
                f"{source}: workers = {point.workers} with layer = 'memory': each worker "
                "process would have rooms of its own; rooms span workers only on a Redis "
                'layer: set layer = "redis" or "redis-pubsub"'
            )
        if point.room_count > point.clients:
            raise UserError(
                f"{source}: rooms = {point.room_count} with clients = {point.clients}: "
                "a room needs at least one client; use fewer rooms"
            )
        if point.clients_per_room and point.clients_per_room > point.clients:
            raise UserError(
                f"{source}: clients_per_room = {point.clients_per_room} is more than "
                f"clients = {point.clients}"
            )


def parse_override(text: str) -> tuple[str, list[Any]]:
    """Parse ``key=v1,v2`` from ``--set`` into a key and TOML-typed values."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"--set {text!r}: write key=value or key=v1,v2")
    if key not in PARAMS:
        raise UserError(
            f"--set {key}: unknown key{_suggest(key, list(PARAMS))}; "
            f"known keys: {', '.join(PARAMS)}"
        )
    values = []
    for item in raw.split(","):
        item = item.strip()
        try:
            values.append(tomllib.loads(f"v = {item}")["v"])
        except tomllib.TOMLDecodeError:
            values.append(item)  # a bare word such as sync or redis-pubsub
    return key, values


def load(
    path: str | Path, overrides: Sequence[str] = (), env_options: Sequence[str] = ()
) -> Scenario:
    """Read, validate and return the scenario at ``path`` with ``--set`` overrides and
    ``--env`` environments applied."""
    path = Path(path)
    source = str(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{source}: no such scenario file; see scenarios/ for examples") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{source}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{source}: not valid TOML: {exc}") from None
    return from_dict(data, source, overrides, env_options)


def from_dict(
    data: Mapping[str, Any],
    source: str,
    overrides: Sequence[str] = (),
    env_options: Sequence[str] = (),
) -> Scenario:
    """The scenario in ``data``; ``--env`` options add environments (replacing one of
    the same name) and, unless ``--set env=`` says otherwise, become the ``env`` key."""
    top_keys = ("name", "description", "matrix", "search", "layers", "envs")
    for key in data:
        if key not in top_keys:
            hint = " (put point keys inside [matrix])" if key in PARAMS else _suggest(key, top_keys)
            raise UserError(
                f"{source}: unknown top-level key {key!r}{hint}; known: {', '.join(top_keys)}"
            )
    raw_matrix = data.get("matrix", {})
    if not isinstance(raw_matrix, dict):
        raise UserError(f"{source}: matrix must be a table ([matrix])")
    layers = _check_layers(source, data.get("layers", {}))
    envs = _check_envs(source, data.get("envs", {}), Path(source).parent)
    given = dict(parse_env_option(text) for text in env_options)
    envs.update(_check_envs("--env", given, Path.cwd()))
    matrix = _check_matrix(source, raw_matrix, list(layers), list(envs))
    if given:
        matrix["env"] = list(given)
    applied: dict[str, list[Any]] = {}
    for text in overrides:
        key, values = parse_override(text)
        applied[key] = [
            _check_value(f"--set {key}", key, v, list(layers), list(envs)) for v in values
        ]
    matrix.update(applied)
    search = None
    if "search" in data:
        raw = data["search"]
        if not isinstance(raw, dict):
            raise UserError(f"{source}: search must be a table ([search])")
        unknown = set(raw) - {"p99_ms", "loss"}
        if unknown:
            raise UserError(
                f"{source}: search: unknown key {sorted(unknown)[0]!r}; known: p99_ms, loss"
            )
        try:
            search = Search(
                p99_ms=float(raw.get("p99_ms", 100.0)), loss=float(raw.get("loss", 0.001))
            )
        except (TypeError, ValueError):
            raise UserError(f"{source}: search: p99_ms and loss must be numbers") from None
    name = data.get("name", Path(source).stem)
    description = data.get("description", "")
    if not isinstance(name, str) or not isinstance(description, str):
        raise UserError(f"{source}: name and description must be strings")
    scenario = Scenario(
        name=name,
        description=description,
        matrix=matrix,
        path=source,
        search=search,
        overrides=applied,
        layers=layers,
        envs=envs,
    )
    _check_points(source, scenario)
    return scenario
