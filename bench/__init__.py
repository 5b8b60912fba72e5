"""chanbench: load tests and benchmarks for Django Channels consumers.

One module per job: ``scenario`` (what to run), ``server`` and ``redis_server`` (what is
measured), ``loadgen`` (the clients), ``monitor`` (the server's threads, CPU, memory),
``stats`` (pure statistics), ``store`` (result files), ``report`` and ``compare``
(reading results), ``runner`` (one run, point by point) and ``cli`` (the commands).
"""

__version__ = "0.1.0"
