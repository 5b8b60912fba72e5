"""The ``DATABASES`` entry built from environment variables.

Only the database workloads touch it. ``CHANBENCH_DATABASE_URL`` is
``postgresql://user:password@host:port/name`` (the harness's private PostgreSQL, or the
user's ``DATABASE_URL``) or ``sqlite:///path``; unset, the site keeps the tutorial's
``db.sqlite3``. ``CHANBENCH_CONN_MAX_AGE`` is Django's ``CONN_MAX_AGE``: 0 (Django's
default) closes the connection at the end of each handler, as Channels does around every
handler; a number of seconds keeps it; ``none`` keeps it for good.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit


def database_settings(env: Mapping[str, str], default_sqlite: Path) -> dict[str, Any]:
    """Return the ``DATABASES["default"]`` entry the environment asks for."""
    url = env.get("CHANBENCH_DATABASE_URL", "")
    age = env.get("CHANBENCH_CONN_MAX_AGE", "0")
    conn_max_age = None if age.lower() in ("none", "persistent") else int(age)
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": default_sqlite}
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": unquote(parts.path),
            "CONN_MAX_AGE": conn_max_age,
            # Many writers on one file: wait for the write lock rather than fail at once.
            "OPTIONS": {"timeout": 20},
        }
    if parts.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": conn_max_age,
        }
    raise ValueError(f"CHANBENCH_DATABASE_URL: unknown scheme {parts.scheme!r}")
