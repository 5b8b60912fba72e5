"""Where a point's clients connect and what they say there: the route a scenario's
``[consumers.NAME]`` or the protocol names, and the protocol itself, loaded as the client
workers will load it (from beside the scenario file first)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.deploy.site import netloc, origin, ws_url
from bench.protocols import Loaded, import_paths, load
from bench.scenario import Point, Scenario

if TYPE_CHECKING:
    from bench.run.target import Target


def protocol_of(scenario: Scenario, point: Point) -> Loaded:
    """The point's protocol (checked when the scenario was read, so this cannot fail)."""
    return load(point.protocol, import_paths(scenario.path))


def route_path(scenario: Scenario, point: Point) -> str | None:
    """The route template (``/ws/.../{room}/``) of ``point``: its consumer's in the
    scenario's ``[consumers]``, else its protocol's ``path``; None: chanbench's own
    site's route for the consumer flavour and workload."""
    custom = scenario.consumers.get(point.consumer)
    if custom is not None:
        return custom.path
    return protocol_of(scenario, point).path


def ready_route(scenario: Scenario, point: Point) -> tuple[str | None, dict[str, str]]:
    """The route (``route_path``) and the protocol's handshake headers for one client
    (the first), for a readiness or pre-flight handshake made as the clients make theirs."""
    return route_path(scenario, point), protocol_of(scenario, point).headers(0)


def system_name(scenario: Scenario, targeted: bool) -> str | None:
    """What a point is named after instead of its consumer: ``target``, for a --target
    of one route; None where the scenario names the routes its consumers pick."""
    return "target" if targeted and not scenario.consumers else None


def served_site(scenario: Scenario, point: Point, env_site: str | None) -> str | None:
    """The site folder a point's server serves: the user's own (``--site``), or under
    ``--env NAME=CHECKOUT`` that checkout's when its top holds a ``manage.py`` (the CI
    gate on the user's repository); else the environment's (``env_site``) or ours."""
    if scenario.site is None:
        return env_site
    env = scenario.envs.get(point.env)
    if env is not None and env.source and (Path(env.source) / "manage.py").is_file():
        return env.source
    return scenario.site.dir


def url_template(
    scenario: Scenario, target: Target | None, point: Point, host: str, port: int | None
) -> tuple[str, str]:
    """The clients' URL with ``{room}`` left in, and the Origin header to send: on the
    ``target``, or on the server chanbench started at ``host:port``."""
    path = route_path(scenario, point)
    if target:
        return target.template(point, path), target.origin
    assert port is not None
    if path:
        return f"ws://{netloc(host, port)}{path}", origin(host, port)
    return ws_url(host, port, point.route, "{room}", point.workload), origin(host, port)
