"""What the workload consumers do besides chatting, sized by the scenario.

The server under test reads these from ``CHANBENCH_*`` environment variables (set by the
harness from the scenario's keys ``work_ms``, ``work_us``, ``db_pool_size``); a person
running ``chanbench serve`` gets the defaults.
"""

import asyncio
import os
import time

from django.conf import settings

# blocking: how long each message's blocking call takes (a slow service, a sleep).
WORK_MS = float(os.environ.get("CHANBENCH_WORK_MS", "10"))
# cpu: how much CPU each message burns, in microseconds of the handling thread's time.
WORK_US = float(os.environ.get("CHANBENCH_WORK_US", "1000"))
# orm-native: connections in the async-native pool (one per concurrent insert).
DB_POOL_SIZE = int(os.environ.get("CHANBENCH_DB_POOL_SIZE", "10"))

INSERT = "INSERT INTO chat_message (room, sender, text, created) VALUES (%s, %s, %s, now())"


def burn_cpu(work_us=WORK_US):
    """Pure-Python work until this thread has used ``work_us`` of CPU: the same work
    whatever else the machine runs (a wall-clock spin would stretch with contention)."""
    end = time.thread_time_ns() + int(work_us * 1000)
    n = 0
    while time.thread_time_ns() < end:
        n += 1
    return n


_pool = None
_pool_lock = None


async def native_pool():
    """psycopg's async connection pool, opened on first use in the server's event loop:
    the "async-native library" of the tutorial's note (no thread, no Django ORM)."""
    global _pool, _pool_lock
    if _pool is None:
        from psycopg_pool import AsyncConnectionPool

        if _pool_lock is None:
            _pool_lock = asyncio.Lock()
        async with _pool_lock:
            if _pool is None:
                db = settings.DATABASES["default"]
                pool = AsyncConnectionPool(
                    conninfo_from(db),
                    min_size=1,
                    max_size=DB_POOL_SIZE,
                    kwargs={"autocommit": True},
                    open=False,
                )
                await pool.open(wait=True, timeout=10)
                _pool = pool
    return _pool


def conninfo_from(db):
    """A libpq connection string from Django's ``DATABASES`` entry."""
    from psycopg.conninfo import make_conninfo

    keys = {
        "dbname": "NAME",
        "user": "USER",
        "password": "PASSWORD",
        "host": "HOST",
        "port": "PORT",
    }
    return make_conninfo(**{k: str(db[v]) for k, v in keys.items() if db.get(v)})
