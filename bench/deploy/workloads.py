"""The workloads: what a consumer does with each message besides the tutorial's chat.

One registry entry per workload declares everything the harness knows of it: its
consumer pair in the site (``consumers/chat/routing.py`` routes
``/ws/<flavour>/<workload>/<room>/`` to them), the scenario keys that size it (each reaches
the server as ``CHANBENCH_<KEY>``), whether it writes to a database and which it can, the
sync workload an async-native twin is measured against, and its line in the report.
Adding a workload is an entry here plus its consumer pair (and its route) in the site.
"""

from __future__ import annotations

from dataclasses import dataclass

# The databases the writing workloads can write to: the run's PostgreSQL (private, or
# DATABASE_URL), or SQLite.
DATABASES = ("postgres", "sqlite")


@dataclass(frozen=True)
class Workload:
    """One workload: its consumers, its size settings, its rules and its report text."""

    name: str
    # Its consumer pair, as classes of the site (consumers/): sync, async.
    consumers: tuple[str, str]
    # What the async consumer does, as the report's workloads table says it.
    how: str
    # The Point keys that size it; the server reads each as CHANBENCH_<KEY>.
    settings: tuple[str, ...] = ()
    # Each message is saved to a database (one row per message sent).
    writes: bool = False
    # The databases it can write to, and why not the others.
    databases: tuple[str, ...] = DATABASES
    databases_why: str = ""
    # The workload whose sync consumer an async rewrite is measured against.
    base: str | None = None

    @property
    def compared_with(self) -> str:
        return self.base or self.name


_SYNC, _ASYNC = "chat.sync_work_consumers", "chat.async_work_consumers"
_ORM = ("conn_max_age",)

WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "chat",
            ("chat.sync_consumer.ChatConsumer", "chat.async_consumer.ChatConsumer"),
            "the tutorial's consumers: no other work",
        ),
        Workload(
            "orm",
            (f"{_SYNC}.OrmConsumer", f"{_ASYNC}.OrmConsumer"),
            "saves each message with the ORM; async through database_sync_to_async",
            settings=_ORM,
            writes=True,
        ),
        Workload(
            "orm-acreate",
            (f"{_SYNC}.OrmConsumer", f"{_ASYNC}.OrmAcreateConsumer"),
            "async saves with Django's acreate (sync_to_async(create) underneath)",
            settings=_ORM,
            writes=True,
            base="orm",
        ),
        Workload(
            "orm-native",
            (f"{_SYNC}.OrmConsumer", f"{_ASYNC}.OrmNativeConsumer"),
            "async saves through psycopg's async pool: no thread",
            settings=(*_ORM, "db_pool_size"),
            writes=True,
            databases=("postgres",),
            databases_why="the async-native driver is psycopg's",
            base="orm",
        ),
        Workload(
            "blocking",
            (f"{_SYNC}.BlockingConsumer", f"{_ASYNC}.BlockingConsumer"),
            "a blocking call per message; async through sync_to_async",
            settings=("work_ms",),
        ),
        Workload(
            "blocking-native",
            (f"{_SYNC}.BlockingConsumer", f"{_ASYNC}.BlockingNativeConsumer"),
            "async awaits asyncio.sleep instead: no thread",
            settings=("work_ms",),
            base="blocking",
        ),
        Workload(
            "cpu",
            (f"{_SYNC}.CpuConsumer", f"{_ASYNC}.CpuConsumer"),
            "pure-Python CPU per message, the same code in both",
            settings=("work_us",),
        ),
    )
}

# Every workload's size settings, once each, in the registry's order.
SIZE_SETTINGS = tuple(dict.fromkeys(key for w in WORKLOADS.values() for key in w.settings))
