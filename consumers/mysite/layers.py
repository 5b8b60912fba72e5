"""Channel layer settings built from environment variables.

The harness starts each server with the layer a scenario asks for: a built-in name, or
any layer by its dotted path (``CHANBENCH_LAYER_BACKEND``) with the scenario's CONFIG
(``CHANBENCH_LAYER_CONFIG``, JSON); a person running ``chanbench serve`` picks it with
``--layer``. Capacity matters: the in-memory and Redis layers silently drop group
messages past a channel's capacity, so it is always explicit. When chanbench names a
directory in ``CHANBENCH_DROPS_DIR``, the same layers count those drops (``mysite.drops``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mysite.database import database_settings

LAYERS = ("memory", "redis", "redis-pubsub")

# Channels' own defaults, kept unless a scenario sets them.
DEFAULT_CAPACITY = 100
DEFAULT_EXPIRY_S = 60
DEFAULT_GROUP_EXPIRY_S = 86400
# redis-py 8's asyncio pool raises MaxConnectionsError past 100 connections instead of
# waiting; each waiting receive() holds one, so size the pool well above the client count.
DEFAULT_REDIS_MAX_CONNECTIONS = 10_000


def channel_layer_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """Return the ``CHANNEL_LAYERS["default"]`` entry the environment asks for."""
    layer = env.get("CHANBENCH_LAYER", "memory")
    capacity = int(env.get("CHANBENCH_LAYER_CAPACITY", DEFAULT_CAPACITY))
    expiry_s = int(env.get("CHANBENCH_LAYER_EXPIRY", DEFAULT_EXPIRY_S))
    group_expiry_s = int(env.get("CHANBENCH_GROUP_EXPIRY", DEFAULT_GROUP_EXPIRY_S))
    backend = env.get("CHANBENCH_LAYER_BACKEND")
    if backend:  # a layer by its dotted path, configured by the scenario
        config = json.loads(env.get("CHANBENCH_LAYER_CONFIG") or "{}")
        return {"BACKEND": backend, "CONFIG": _expand(config, env)}
    counted = bool(env.get("CHANBENCH_DROPS_DIR"))  # the same layer, its drops counted
    if layer == "memory":
        return {
            "BACKEND": "mysite.drops.InMemoryChannelLayer"
            if counted
            else "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": capacity, "expiry": expiry_s, "group_expiry": group_expiry_s},
        }
    redis_url = env.get("CHANBENCH_REDIS_URL") or env.get("REDIS_URL")
    if not redis_url:
        raise ValueError(f"CHANBENCH_LAYER={layer} needs CHANBENCH_REDIS_URL or REDIS_URL")
    max_connections = int(env.get("CHANBENCH_REDIS_MAX_CONNECTIONS", DEFAULT_REDIS_MAX_CONNECTIONS))
    # redis-py 8 defaults to a 5 s socket timeout, the same as channels_redis's blocking
    # receive (BZPOPMIN, 5 s): idle consumers then die with TimeoutError and Daphne drops
    # their clients. No read timeout; connecting still times out.
    hosts = [
        {
            "address": redis_url,
            "max_connections": max_connections,
            "socket_timeout": None,
            "socket_connect_timeout": 5,
        }
    ]
    if layer == "redis":
        return {
            "BACKEND": "mysite.drops_redis.RedisChannelLayer"
            if counted
            else "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": hosts,
                "capacity": capacity,
                "expiry": expiry_s,
                "group_expiry": group_expiry_s,
            },
        }
    if layer == "redis-pubsub":
        # The pub/sub layer has no capacity or expiry: it delivers what Redis publishes.
        return {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": hosts},
        }
    raise ValueError(f"unknown CHANBENCH_LAYER {layer!r}; use one of {', '.join(LAYERS)}")


def _expand(value: Any, env: Mapping[str, str]) -> Any:
    """A scenario's layer CONFIG with the run's services filled in: ``"{database}"`` is
    the site's own ``DATABASES`` entry (channels-postgres takes one), and ``{redis_url}``
    and ``{database_url}`` inside a string are those URLs."""
    if value == "{database}":
        # As Django's own connection handler fills it in: a layer may build a
        # DatabaseWrapper from it (channels-postgres does), which reads every key.
        return {
            "TIME_ZONE": None,
            "OPTIONS": {},
            "AUTOCOMMIT": True,
            "CONN_HEALTH_CHECKS": False,
            **database_settings(env, Path("db.sqlite3")),
        }
    if isinstance(value, str):
        return value.replace("{redis_url}", env.get("CHANBENCH_REDIS_URL", "")).replace(
            "{database_url}", env.get("CHANBENCH_DATABASE_URL", "")
        )
    if isinstance(value, dict):
        return {k: _expand(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env) for v in value]
    return value
