"""chanbench: load tests and benchmarks for Django Channels consumers.

One package per stage, in the order a run's data flows (docs/architecture.md has every
module):

- ``scenario``: what to measure: the ``Point`` and the matrix (``model``), read from TOML
  files and ``--set`` / ``--env`` options (``parse``).
- ``deploy``: the system under test: the chat site, the server kinds, the services they
  use (Redis, PostgreSQL), Python environments, child processes stopped by PID.
- ``loadgen``: the load generator: websocket clients in worker processes, and the pool
  that drives them.
- ``run``: one run, point by point and repeat by repeat, with the monitor, the progress
  display, the flags and the saturation search.
- ``results``: the typed result model, its metrics, its files and their history.
- ``judge``: statistics, significance, and run-against-run comparison.
- ``report``: charts, ``index.html`` and ``README.md``; a comparison in words.
- ``cli``: the ``chanbench`` command; ``errors``: one-line failures and the exit codes;
  ``redact``: credentials masked in whatever is printed or written.
"""

__version__ = "0.1.0"
