"""A ``--target``: one server chanbench did not start, at one URL.

Checked before any load, each failure one line: the URL (scheme, host, port), one
websocket handshake on the first room, and ``--server-pid`` (a process that holds the
target's port, so that "the server" is not the whole machine). What chanbench cannot
know or choose of such a server (its consumer, kind, layer, environment) is not crossed
into points. The clients cannot send a URL's user and password: they are left out of
the clients' URL, with one warning, instead of a warning per client.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from bench.deploy.processes import process_tree
from bench.errors import UserError
from bench.redact import redact
from bench.run.profiling import check_traceable
from bench.run.routes import ready_route
from bench.scenario import Point, Scenario

# Keys that describe the server chanbench starts: a target is its own server, so they
# are not crossed into points (``consumer`` picks a route only on chanbench's own site,
# and a route template with {room} names it instead).
SERVER_KEYS = ("consumer", "server", "layer", "loop", "workers", "capacity", "env", "allocator")
# The pre-flight handshake: a server that takes longer than this to answer one is
# refused before any load (the clients allow CONNECT_TIMEOUT_S each under load).
HANDSHAKE_TIMEOUT_S = 5.0
# What the route template looks like in a hint (the Channels tutorial's route).
EXAMPLE_ROUTE = "/ws/chat/{room}/"


@dataclass(frozen=True)
class Target:
    """A checked ``--target``: ``given`` as typed (redact it before showing it), ``url``
    without credentials, and where it listens."""

    given: str
    url: str
    host: str
    port: int
    has_credentials: bool

    @property
    def shown(self) -> str:
        """The URL as printed and recorded: its password masked."""
        return redact(self.given)

    @property
    def routed(self) -> bool:
        """Whether the URL names its route (``{room}`` in it) rather than a base URL."""
        return "{room}" in self.url

    @property
    def origin(self) -> str:
        """The Origin header the clients send (a tutorial site checks it)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.url.startswith("wss:") else "http"
        return f"{scheme}://{host}:{self.port}"

    def template(self, point: Point, path: str | None = None) -> str:
        """The clients' URL with ``{room}`` left in: the URL as given when it has
        ``{room}`` (a tutorial-style route needs its trailing slash kept), else ``path``
        (a route the scenario or the protocol names) or chanbench's own site's route for
        ``point`` under the base URL."""
        if self.routed:
            return self.url
        if path:
            return f"{self.url.rstrip('/')}{path}"
        return f"{self.url.rstrip('/')}/ws/{point.route}/{point.workload}/{{room}}/"


def prepare(
    given: str, scenario: Scenario, server_pid: int | None
) -> tuple[Target, Scenario, list[str]]:
    """Every check of a ``--target`` before any load, in order (the URL, the PID, that
    py-spy can trace it if a point is profiled, one handshake, the PID's port); the
    target, the scenario as one system, and the warnings to print, credentials masked."""
    target = parse(given)
    scenario, ignored = one_system(scenario)
    check_server_pid(server_pid, target)
    check_traceable(scenario.points(), server_pid)
    path, headers = ready_route(scenario, scenario.points()[0])
    check_handshake(target, scenario.points()[0], path, headers)
    warnings = [check_server_pid_port(server_pid, target)]
    if ignored:
        keys = ", ".join(ignored)
        warnings.append(
            f"{keys} (from the scenario) ignored: the target {target.shown} is one server "
            f"that chanbench did not start, with its own {keys}"
        )
    if target.has_credentials:
        warnings.append(
            "the user and password in --target are not sent: the clients cannot send "
            "them (no Basic authentication) and connect without"
        )
    return target, scenario, [redact(w) for w in warnings if w]


def parse(text: str) -> Target:
    """The ``--target`` URL checked: a ws:// or wss:// scheme, a host, a port in range."""
    parts = urlsplit(text)
    example = f"ws://127.0.0.1:8000{EXAMPLE_ROUTE}"
    if parts.scheme not in ("ws", "wss"):
        raise UserError(f"--target {redact(text)!r}: give a websocket URL such as {example}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if not parts.hostname:
        raise UserError(f"--target {redact(text)!r}: no host; give one, such as {example}")
    if port is not None and not 0 < port <= 65535:
        where = text.split("//", 1)[-1].split("/", 1)[0].rsplit(":", 1)[-1]
        raise UserError(
            f"--target {redact(text)!r}: port {where!r} is not a port (1 to 65535); "
            f"give the server's, such as {example}"
        )
    netloc = parts.netloc.rsplit("@", 1)[-1]
    url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return Target(
        given=text,
        url=url,
        host=parts.hostname,
        port=port or (443 if parts.scheme == "wss" else 80),
        has_credentials="@" in parts.netloc,
    )


def one_system(scenario: Scenario) -> tuple[Scenario, list[str]]:
    """``scenario`` without the keys of a server chanbench starts, and which of them the
    scenario file set (to say once that they are ignored). Set on the command line they
    are refused: the user asked for something a target cannot give. ``consumer`` stays
    where the scenario names its routes (``[consumers.NAME]``): it picks a route there."""
    server_keys = [k for k in SERVER_KEYS if not (k == "consumer" and scenario.consumers)]
    given = [key for key in server_keys if key in scenario.overrides]
    if given:
        key = given[0]
        raise UserError(
            f"--set {key}: a --target is one server that chanbench did not start, so its "
            f"{key} is the server's own; drop --set {key}"
            + (
                f" (to drive another consumer, give its route: "
                f"--target 'ws://HOST:PORT{EXAMPLE_ROUTE}')"
                if key == "consumer"
                else ""
            )
        )
    if scenario.envs and "env" in scenario.matrix and scenario.matrix["env"] != ["current"]:
        raise UserError(
            f"env = {', '.join(map(str, scenario.matrix['env']))} with --target: chanbench "
            "builds environments only for the servers it starts; drop --env (or the "
            "scenario's env key), or drop --target"
        )
    ignored = [key for key in server_keys if key in scenario.matrix]
    matrix = {k: v for k, v in scenario.matrix.items() if k not in server_keys}
    return dataclasses.replace(scenario, matrix=matrix), ignored


def check_handshake(
    target: Target, point: Point, path: str | None = None, headers: dict[str, str] | None = None
) -> None:
    """One websocket handshake on the first room, as the clients will make it (on
    ``path``, with ``headers``); a failure is one line naming the URL and the status or
    error, before any load."""
    from websockets.exceptions import InvalidHandshake, InvalidStatus
    from websockets.sync.client import connect
    from websockets.typing import Origin

    url = target.template(point, path).format(room=0, client=0)
    try:
        with connect(
            url,
            origin=Origin(target.origin),
            additional_headers=headers,
            open_timeout=HANDSHAKE_TIMEOUT_S,
            close_timeout=1,
            compression=None,
        ):
            return
    except InvalidStatus as exc:
        status = exc.response.status_code
        why = f"the server answered the websocket handshake with HTTP {status}"
        hint = _status_hint(target, status)
    except TimeoutError:
        why, hint = f"no handshake within {HANDSHAKE_TIMEOUT_S:g} s", "; is it a websocket server?"
    except ConnectionRefusedError:
        why = "connection refused"
        hint = f"; is the server running and listening on port {target.port}?"
    except (OSError, InvalidHandshake) as exc:
        why, hint = str(exc) or type(exc).__name__, ""
    raise UserError(f"--target: {redact(url)}: {why}{hint}")


def _status_hint(target: Target, status: int) -> str:
    """What to try when the handshake got an HTTP status instead of a websocket."""
    if status == 403:
        return (
            f"; it refused chanbench's Origin header ({target.origin}) or asks for a login: "
            "check its ALLOWED_HOSTS and authentication"
        )
    if target.routed:
        return "; is this the route, with its trailing slash, and {room} where the room goes?"
    return (
        "; a URL without {room} tries chanbench's own site's route: for another site give "
        f"the route with {{room}} in it, such as {target.origin.replace('http', 'ws', 1)}"
        f"{EXAMPLE_ROUTE}"
    )


def check_server_pid(pid: int | None, target: Target | None) -> None:
    """Refuse a ``--server-pid`` without ``--target``, not positive, or of no process."""
    import psutil

    if pid is None:
        return
    if target is None:
        raise UserError(
            f"--server-pid {pid} without --target: chanbench monitors the servers it starts "
            "itself; give --target with the URL of the server that process runs"
        )
    if pid <= 0 or not psutil.pid_exists(pid):
        what = "no such process" if pid > 0 else "not a process ID"
        raise UserError(f"--server-pid {pid}: {what}; give the PID of the target's server")


def check_server_pid_port(pid: int | None, target: Target) -> str | None:
    """Refuse a ``--server-pid`` whose process tree holds chanbench itself (PID 1, a
    shell: the load generator would count as the server); return a warning when neither
    it nor its children listen on the target's port (a proxy such as docker-proxy may
    hold it for a server elsewhere), naming the process that does."""
    import psutil

    if pid is None:
        return None
    tree = {pid, *process_tree(pid)}
    listeners = {
        c.pid
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == target.port
    }
    holder = min((p for p in listeners if p is not None), default=None)
    does = f"process {holder} ({_name(holder)}) listens on port {target.port}" if holder else ""
    if os.getpid() in tree:
        raise UserError(
            f"--server-pid {pid} ({_name(pid)}) has chanbench itself among its processes: "
            "the load generator would count as the server; give the server's own PID"
            + (f" ({does})" if does else "")
        )
    if listeners & tree:
        return None
    if does:
        return (
            f"--server-pid {pid} ({_name(pid)}) does not listen on port {target.port} of "
            f"the target, {does}: the server's figures are those of process {pid}"
        )
    return (
        f"--server-pid {pid} ({_name(pid)}): cannot tell whether it listens on port "
        f"{target.port}; its threads, CPU and memory are reported as the server's"
    )


def _name(pid: int) -> str:
    import psutil

    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return "?"
