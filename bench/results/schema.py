"""Result files across versions: the schema's history, and the migrations that read an
older file as today's model (asv's ``update_to_N``), so a committed reference run keeps
reading, reporting and comparing.

Schema history (``SCHEMA_VERSION``), as pyperf keeps it:
  1 - first version: environment, scenario, calibration, points with raw repeats. The
      per-thread CPU fields of a repeat's ``server`` (``per_thread``, ``busiest_thread``,
      ``event_loop_cpu_percent``, ``other_threads_cpu_percent``) came in later without a
      version bump: a version 1 file may lack them.
  2 - the point's params separate what runs (``consumer``: sync or async), what it does
      (``workload``: chat) and where it runs (``server``: daphne); the fault-injecting
      routes moved from ``consumer`` to ``fault``. A point records the software its server
      ran (``software``: read from the server's own interpreter). A repeat's ``server``
      sums the whole process tree and lists each process (``processes``); ``services``
      holds the same for Redis; ``machine`` the whole machine's CPU and the clients'
      waits for a core. ``asgi_threads`` is gone (ASGI_THREADS does not size the one
      thread-sensitive executor both consumers' sync work runs on). ``update_to_2``
      reads version 1 files. ``calibrations`` (one per shape of load) replaces
      ``calibration``.
      Also: open-loop send lateness (``lateness_ms``, ``lateness_histogram``: actual
      minus intended send time); ``counts`` gains ``negative_latency``, ``sent_early``
      (harness errors, never clamped into a histogram) and ``receiver_gone`` (deliveries
      owed to members that had left, out of ``expected`` and ``lost``);
      ``received_in_window`` counts first deliveries only (no duplicates or malformed
      frames); ``clients.max_loop_lag_ms`` is no longer written (null).
      Also: the workloads' keys (``work_ms``, ``work_us``, ``database``, ``conn_max_age``,
      ``db_pool_size``: version 1 files ran chat alone, where none applies); a repeat's
      ``database`` (rows written against messages sent, orm workloads) and the database
      server under ``services``; ``environment.database_servers``. The deployment's keys
      (``server`` beyond daphne, ``loop``, ``workers``), each point's ``server_command``,
      and each server process's client ``connections``; the ``env`` key (``current``
      where absent) and the scenario's ``envs`` and ``layers`` tables.
  3 - a point carries its configuration typed (``point``, the scenario's keys, every key
      present) instead of ``params`` (the keys its chanbench knew); a calibration too.
      The scenario's ``layers`` are ``{"backend", "config"}`` (were ``BACKEND``,
      ``CONFIG``, as a scenario file writes them). ``update_to_3`` reads version 2 files:
      a key a version 2 file lacks reads as its default (``env``: current, ``loop``:
      asyncio, ``workers``: 1, what those runs did).
      Also, as records where they were free-form: the run's ``environment`` (``git``,
      ``packages``, the services' versions) and each point's ``software`` (its server
      kind's own packages among them), ``scenario`` as read, ``saturation`` and each
      point's ``search``. A server process in a repeat's ``server`` gains ``uss_bytes``,
      ``pss_bytes`` and ``open_files`` (read when the window ends), the tree
      ``pss_bytes``; ``per_thread`` rows always carry ``pid`` and ``main``. Each is
      optional: older files read without them.
      Also: a churn point's repeat holds ``churn`` (its cycles, the counters read after
      each, what could not be read, a verdict per counter: ``bench.results.churn``) and
      no throughput; the point's keys ``cycles``, ``warmup_cycles``, ``messages``,
      ``settle_s`` and ``allocator`` read as their defaults (no churn) in older files.
      Also: a repeat's ``layer_drops`` (what the channel layer dropped silently, counted
      in chanbench's site: ``bench.results.drops``; null: not counted, as in older
      files) and a staircase step's ``connect_ms`` (its handshakes' percentiles; empty in
      older files).
      Also: churn under load and soak (``reconnect_per_s``, ``sample_s``: 0 in older
      files); ``counts`` gains ``reconnects``, ``reconnect_failures``, ``away`` and
      ``away_arrivals``, a room tally ``away_us``, a repeat ``reconnect_ms``; ``churn``
      gains ``kind`` (``churn`` where absent), ``sample_s``, ``connections_per_sample``,
      ``per``, and a cycle ``t_s``, ``read_ms``, ``reconnects``. Each optional.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 3

FAULTS = ("stall", "slow")


def update_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 result as version 2 (asv's ``update_to_N``): new keys at the values
    version 1 implied, fault routes out of ``consumer``."""

    def params_2(params: dict[str, Any]) -> dict[str, Any]:
        out = dict(params)
        consumer = out.get("consumer")
        out["fault"] = consumer if consumer in FAULTS else "none"
        if consumer in FAULTS:
            out["consumer"] = "async"  # the fault consumers are the async one, plus a fault
        out.pop("asgi_threads", None)  # it never sized the thread that mattered
        out.setdefault("workload", "chat")
        out.setdefault("server", "daphne")
        return out

    for point in _objects(data.get("points")):
        point["params"] = params_2(point.get("params") or {})
    calibration = data.pop("calibration", None)
    if isinstance(calibration, dict) and isinstance(calibration.get("params"), dict):
        calibration["params"] = params_2(calibration["params"])
    data["calibrations"] = [calibration] if isinstance(calibration, dict) else []
    scenario = data.get("scenario")
    matrix = scenario.get("matrix") if isinstance(scenario, dict) else None
    if isinstance(matrix, dict) and any(c in FAULTS for c in matrix.get("consumer", [])):
        faults = [c for c in matrix["consumer"] if c in FAULTS]
        matrix["consumer"] = [c for c in matrix["consumer"] if c not in FAULTS] or ["async"]
        matrix["fault"] = faults
    data["schema_version"] = 2
    return data


def update_to_3(data: dict[str, Any]) -> dict[str, Any]:
    """A version 2 result as version 3: ``params`` become the typed ``point`` (missing
    keys at their defaults, filled when the ``Point`` is read), the scenario's layers
    lower-cased."""
    for record in [*_objects(data.get("points")), *_objects(data.get("calibrations"))]:
        if "params" in record:
            record["point"] = record.pop("params") or {}
    scenario = data.get("scenario")
    if isinstance(scenario, dict) and isinstance(scenario.get("layers"), dict):
        scenario["layers"] = {
            name: {"backend": layer.get("BACKEND", ""), "config": layer.get("CONFIG", {})}
            for name, layer in scenario["layers"].items()
            if isinstance(layer, dict)
        }
    data["schema_version"] = 3
    return data


def _objects(value: Any) -> list[dict[str, Any]]:
    """The objects of a list a file holds; anything else is left for reading to refuse,
    naming the field (``bench.results.record``): a migration never fails on a bad file."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


MIGRATIONS = {1: update_to_2, 2: update_to_3}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A result file's JSON, of any version this chanbench reads, as today's version."""
    version = data["schema_version"]
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version = data["schema_version"]
    return data
