"""The database the workloads write to, for one run: the private PostgreSQL (or the
user's ``DATABASE_URL``), or a SQLite file; migrated once, emptied before every repeat,
and counted after it, so that every message saved is accounted for as a row.

``DATABASE_URL`` should name a database for chanbench alone: its ``chat_message`` table
is created if missing and emptied before every repeat.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.deploy import postgres_server
from bench.deploy.site import ServerSettings, migrate
from bench.errors import PointFailed, ServerError
from bench.redact import redact
from bench.scenario import Point

TABLE = "chat_message"


@dataclass(frozen=True)
class Database:
    """One database of a run: its kind, its URL, its server's PID when it is ours."""

    kind: str  # "postgres" or "sqlite"
    url: str
    pid: int | None = None
    version: str | None = None

    def clear(self) -> None:
        """Empty the messages table, so a repeat's rows are its own."""
        try:
            if self.kind == "sqlite":
                with closing(sqlite3.connect(self._sqlite_path(), timeout=30)) as conn:
                    conn.execute(f"DELETE FROM {TABLE}")
                    conn.commit()
            else:
                postgres_server.execute(self.url, f"TRUNCATE {TABLE}")
        except (sqlite3.Error, ServerError) as exc:
            raise PointFailed(f"cannot empty {TABLE} in {redact(self.url)}: {exc}") from None

    def clear_app(self, app: str) -> None:
        """Empty every table of Django app ``app`` (a channel layer's messages and groups),
        so a repeat does not inherit the last one's groups of dead channels."""
        if self.kind != "postgres":
            return
        try:
            postgres_server.execute(
                self.url,
                "DO $$ DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_tables "
                f"WHERE schemaname = 'public' AND tablename LIKE '{app}\\_%' LOOP "
                "EXECUTE 'TRUNCATE ' || quote_ident(t) || ' CASCADE'; END LOOP; END $$",
            )
        except ServerError as exc:
            raise PointFailed(f"cannot empty {app}'s tables in {redact(self.url)}: {exc}") from None

    def rows(self) -> int:
        """The rows in the messages table."""
        try:
            if self.kind == "sqlite":
                with closing(sqlite3.connect(self._sqlite_path(), timeout=30)) as conn:
                    return int(conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0])
            return postgres_server.count_rows(self.url, TABLE)
        except (sqlite3.Error, ServerError) as exc:
            raise PointFailed(
                f"{self.kind} at {redact(self.url)} stopped answering during the point: {exc}"
            ) from None

    def _sqlite_path(self) -> str:
        return self.url.removeprefix("sqlite:///")


@contextmanager
def databases_for(
    points: Sequence[Point],
    user_url: str | None,
    log_dir: Path,
    layer_backends: Sequence[str] = (),
) -> Iterator[dict[str, Database]]:
    """The databases ``points`` write to, by kind, started (or checked) and migrated (with
    the tables of ``layer_backends``, channel layers that keep their messages in
    PostgreSQL); the private ones stopped and removed afterwards. Empty when no point
    needs one."""
    kinds = sorted(
        {p.database for p in points if p.needs_database}
        | ({"postgres"} if layer_backends else set())
    )
    with ExitStack() as stack:
        found: dict[str, Database] = {}
        if kinds:
            work_dir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="chanbench-db-"))
            )
        for kind in kinds:
            if kind == "postgres":
                service = stack.enter_context(
                    postgres_server.database_for(
                        user_url, work_dir / "postgres", log_dir / "postgres.log"
                    )
                )
                db = Database(kind, service.url, service.pid, service.version)
            else:
                db = Database(
                    kind,
                    f"sqlite:///{work_dir / 'chanbench.sqlite3'}",
                    None,
                    sqlite3.sqlite_version,
                )
            for backend in [None, *(layer_backends if kind == "postgres" else [])]:
                migrate(
                    ServerSettings(Point(), database_url=db.url, layer_backend=backend),
                    log_dir / f"migrate-{kind}.log",
                )
            found[kind] = db
        yield found
