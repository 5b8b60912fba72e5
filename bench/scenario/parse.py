"""Reading scenario files: TOML and ``--set`` / ``--env`` options, checked key by key
into a ``Scenario``, every mistake a one-line ``UserError`` that names the key."""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.deploy import own_site
from bench.deploy.listen import check_advertise, check_bind
from bench.deploy.site import FAULTS, LAYERS
from bench.deploy.workloads import WORKLOADS
from bench.errors import UserError
from bench.protocols import import_paths
from bench.protocols import load as load_protocol
from bench.scenario.model import (
    ALLOWED,
    MINIMUM,
    PARAMS,
    CustomConsumer,
    CustomEnv,
    CustomLayer,
    Scenario,
    Search,
)


def _where(source: str, key: str) -> str:
    return f"{source}: {key}"


def _suggest(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_value(
    source: str,
    key: str,
    value: Any,
    layers: Sequence[str] = (),
    envs: Sequence[str] = (),
    consumers: Sequence[str] = (),
    scenario_path: str | None = None,
) -> Any:
    """Return ``value`` as the type ``key`` takes, or raise a one-line ``UserError``
    (``layers``, ``envs``, ``consumers``: the scenario's own names, allowed besides the
    built-in ones; a ``protocol`` is imported from beside ``scenario_path``)."""
    kind = PARAMS[key]
    where = _where(source, key)
    if kind is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where} = {value!r}: must be true or false")
        return value
    if key == "protocol":
        if not isinstance(value, str):
            raise UserError(f"{where} = {value!r}: give module:Class, e.g. myproto:PingPong")
        try:  # imported and checked now, before any process starts
            load_protocol(value, import_paths(scenario_path))
        except UserError as exc:
            raise UserError(f"{source}: {exc}") from None
        return value
    if kind is str:
        extra = {"layer": layers, "env": envs, "consumer": consumers}.get(key, ())
        allowed = tuple(dict.fromkeys((*ALLOWED[key], *extra)))
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


def _check_consumers(source: str, raw: Any) -> dict[str, CustomConsumer]:
    """``[consumers.NAME]`` tables: a route's ``path`` with ``{room}`` in it."""
    if not isinstance(raw, dict):
        raise UserError(f"{source}: consumers must be a table of tables ([consumers.NAME])")
    out = {}
    for name, table in raw.items():
        where = f"{source}: consumers.{name}"
        path = table.get("path") if isinstance(table, dict) else None
        if not isinstance(table, dict) or set(table) - {"path"} or not isinstance(path, str):
            raise UserError(f'{where}: give path = "/ws/.../{{room}}/", nothing else')
        if not path.startswith("/") or "{room}" not in path:
            raise UserError(
                f"{where}: path = {path!r}: give the route from its first slash with {{room}} "
                'where the room goes, e.g. "/ws/ping/sync/{room}/"'
            )
        out[name] = CustomConsumer(path)
    return out


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
    source: str,
    raw: Mapping[str, Any],
    layers: Sequence[str] = (),
    envs: Sequence[str] = (),
    consumers: Sequence[str] = (),
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
        matrix[key] = [
            _check_value(source, key, v, layers, envs, consumers, source) for v in values
        ]
    return matrix


def _check_points(source: str, scenario: Scenario) -> None:
    for point in scenario.points():
        if point.mode == "closed" and _recipients(point.protocol, source) == "none":
            raise UserError(
                f"{source}: protocol = {point.protocol!r} owes nothing to anyone "
                '(recipients = "none"), so nothing comes back to pace a closed loop; '
                'set mode = "open"'
            )
        if point.reconnect_per_s and point.mode != "open":
            raise UserError(
                f"{source}: reconnect_per_s = {point.reconnect_per_s:g} with mode = "
                f"{point.mode!r}: clients leave and come back during a steady open-loop "
                'load; set mode = "open"'
            )
        if point.sample_s and (point.cycles or point.idle_max):
            raise UserError(
                f"{source}: sample_s = {point.sample_s:g} with cycles or idle_max: a point "
                "is a soak, a churn or a staircase; set sample_s = 0 or cycles = idle_max = 0"
            )
        if point.fault != "none" and point.consumer != "async":
            raise UserError(
                f"{source}: fault = {point.fault!r} with consumer = {point.consumer!r}: "
                'the faults wrap the async consumer; set consumer = "async"'
            )
        workload = WORKLOADS[point.workload]
        if workload.writes and point.database not in workload.databases:
            raise UserError(
                f"{source}: workload = {workload.name!r} with database = {point.database!r}: "
                f'{workload.databases_why}; set database = "{workload.databases[0]}"'
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


def _check_site(source: str, raw: Any) -> own_site.OwnSite | None:
    """``site = "DIR"`` (relative to the scenario's folder), or a ``[site]`` table with
    ``dir`` and optionally ``asgi`` and ``settings``."""
    if raw is None:
        return None
    table = {"dir": raw} if isinstance(raw, str) else raw
    if (
        not isinstance(table, dict)
        or set(table) - {"dir", "asgi", "settings"}
        or not all(isinstance(v, str) for v in table.values())
    ):
        raise UserError(f'{source}: site: give site = "DIR", or [site] with dir, asgi, settings')
    folder = Path(source).parent / Path(table.get("dir", ".")).expanduser()
    return own_site.find(str(folder), table.get("asgi"), table.get("settings"))


def check_site(source: str, scenario: Scenario) -> None:
    """With the user's own site: every consumer has a route there, named in
    ``[consumers]`` or by the protocol's ``path``."""
    if scenario.site is None:
        return
    for point in scenario.points():
        if point.consumer in scenario.consumers:
            continue
        if load_protocol(point.protocol, import_paths(source)).path is None:
            raise UserError(
                f"{source}: consumer = {point.consumer!r} has no route on your site: name it "
                f'in the scenario, [consumers.{point.consumer}] path = "/ws/.../{{room}}/"'
            )


def _recipients(spec: str, source: str) -> str:
    return load_protocol(spec, import_paths(source)).recipients


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
    scenario = from_dict(data, source, overrides, env_options)
    if not data.get("matrix"):
        # Else an empty or cut file would run the defaults and look like a measurement.
        what = "is empty" if not data else "has no [matrix] or an empty one"
        raise UserError(
            f"{source}: {what}; a scenario names what to measure in [matrix], e.g. "
            'consumer = ["sync", "async"] (see scenarios/quick.toml)'
        )
    return scenario


def from_dict(
    data: Mapping[str, Any],
    source: str,
    overrides: Sequence[str] = (),
    env_options: Sequence[str] = (),
) -> Scenario:
    """The scenario in ``data``; ``--env`` options add environments (replacing one of
    the same name) and, unless ``--set env=`` says otherwise, become the ``env`` key."""
    top_keys = (
        "name",
        "description",
        "matrix",
        "search",
        "layers",
        "envs",
        "consumers",
        "site",
        "cluster",
        "bind",
        "advertise",
    )
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
    consumers = _check_consumers(source, data.get("consumers", {}))
    names = list(consumers)
    matrix = _check_matrix(source, raw_matrix, list(layers), list(envs), names)
    if given:
        matrix["env"] = list(given)
    applied: dict[str, list[Any]] = {}
    for text in overrides:
        key, values = parse_override(text)
        applied[key] = [
            _check_value(f"--set {key}", key, v, list(layers), list(envs), names, source)
            for v in values
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
            search = Search(**{key: float(value) for key, value in raw.items()})
        except (TypeError, ValueError):
            raise UserError(f"{source}: search: p99_ms and loss must be numbers") from None
    name = data.get("name", Path(source).stem)
    description = data.get("description", "")
    if not isinstance(name, str) or not isinstance(description, str):
        raise UserError(f"{source}: name and description must be strings")
    if not name.strip() or not name.isprintable():
        # It heads the terminal's lines and the result's file name: escape codes in it
        # would drive the terminal.
        raise UserError(f"{source}: name = {name!r}: give a name of printable characters")
    if not description.replace("\n", "").replace("\t", "").isprintable():
        raise UserError(f"{source}: description holds control characters: remove them")
    cluster = data.get("cluster")
    if cluster is not None and (not isinstance(cluster, str) or not cluster.strip()):
        raise UserError(f"{source}: cluster = {cluster!r}: give tcp://HOST:PORT or local:N")
    bind, advertise = data.get("bind"), data.get("advertise")
    scenario = Scenario(
        cluster=cluster,
        bind=None if bind is None else check_bind(bind, source),
        advertise=None if advertise is None else check_advertise(advertise, source),
        name=name,
        description=description,
        matrix=matrix,
        path=source,
        search=search,
        overrides=applied,
        layers=layers,
        envs=envs,
        consumers=consumers,
        site=_check_site(source, data.get("site")),
    )
    _check_points(source, scenario)
    check_site(source, scenario)
    specs = {point.protocol for point in scenario.points()}
    scenario.recipients = {spec: _recipients(spec, source) for spec in sorted(specs)}
    return scenario
