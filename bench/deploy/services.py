"""The services a run's servers use: the databases of the orm workloads and the Redis of
the Redis layers, the user's (by URL) or private ones, started once per run, readied
before every repeat (Redis flushed, the messages table emptied) and checked after it.

Databases come first, then Redis: a URL that does not answer stops the run before
anything has started.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.deploy import redis_server
from bench.deploy.database import Database, databases_for
from bench.deploy.redis_server import RedisService
from bench.errors import PointFailed, ServerError
from bench.results.environment import Environment
from bench.scenario import CustomLayer, Point


@dataclass
class Services:
    """What the run started or was given; empty when it drives a ``--target``."""

    redis: RedisService | None = None
    databases: dict[str, Database] = field(default_factory=dict)
    # The scenario's layers by dotted path, by name.
    layers: dict[str, CustomLayer] = field(default_factory=dict)

    def database(self, point: Point) -> Database | None:
        """The database ``point`` writes to, when it writes to one we can count."""
        return self.databases.get(point.database) if point.needs_database else None

    def layer_database(self, point: Point) -> Database | None:
        """The database ``point``'s channel layer keeps its messages in (channels-postgres)."""
        layer = self.layers.get(point.layer)
        return self.databases.get("postgres") if layer and layer.uses_database else None

    def database_url(self, point: Point) -> str | None:
        """What the point's server is told to use as its database."""
        db = self.database(point) or self.layer_database(point)
        return db.url if db else None

    def redis_url(self, point: Point) -> str | None:
        return self.redis.url if self.redis and self.redis_url_needed(point) else None

    def prepare(self, point: Point) -> None:
        """Before a repeat: no leftovers of the last one in Redis or in the database."""
        url = self.redis_url(point)
        if url is not None:
            try:
                redis_server.flush(url)
            except ServerError as exc:
                raise PointFailed(str(exc)) from None
        db = self.database(point)
        if db is not None:
            db.clear()
        layer_db = self.layer_database(point)
        if layer_db is not None:
            layer_db.clear_app(self.layers[point.layer].app)

    def redis_url_needed(self, point: Point) -> bool:
        layer = self.layers.get(point.layer)
        return layer.uses_redis if layer else point.layer != "memory"

    def roots(self, point: Point) -> dict[str, int]:
        """The private services ``point`` uses, by role, for the monitor to watch."""
        roots = {}
        if self.redis and self.redis.pid and self.redis_url(point):
            roots["redis"] = self.redis.pid
        db = self.database(point) or self.layer_database(point)
        if db is not None and db.pid:
            roots["database"] = db.pid
        return roots

    def check(self, point: Point) -> None:
        """After a repeat: did Redis keep answering throughout? (The database is checked
        by counting its rows.)"""
        url = self.redis_url(point)
        if url is None:
            return
        try:
            redis_server.ping(url)
        except ServerError:
            raise PointFailed(
                f"Redis at {url} stopped answering during the point; "
                "the channel layer lost its messages"
            ) from None

    def record_versions(self, into: Environment) -> None:
        """Write their versions into the run's environment record."""
        if self.databases:
            into.database_servers = {k: db.version for k, db in self.databases.items()}
        if self.redis:
            into.redis_server = redis_server.server_version(self.redis.url)


@contextmanager
def services_for(
    points: Sequence[Point],
    layers: dict[str, CustomLayer],
    redis_url: str | None,
    database_url: str | None,
    log_dir: Path,
) -> Iterator[Services]:
    """The services ``points`` need, started (or checked); stopped afterwards."""
    with ExitStack() as stack:
        services = Services(layers=layers)
        used = {p.layer: layers[p.layer] for p in points if p.layer in layers}
        services.databases = stack.enter_context(
            databases_for(
                points,
                database_url,
                log_dir,
                layer_backends=[la.backend for la in used.values() if la.uses_database],
            )
        )
        if any(services.redis_url_needed(p) for p in points):
            services.redis = stack.enter_context(
                redis_server.redis_for(redis_url, log_dir / "redis.log")
            )
        yield services
