"""The load generator: websocket chat clients in worker processes, never in the server.

One module per job (what goes on the wire is ``bench.protocols``): ``ledger`` (the
delivery books, pure), ``pacing`` (when each client sends: closed or open loop),
``clients`` (the transports: picows, or websockets with permessage-deflate), ``link``
(the JSON pipe to the runner) and ``worker`` (one process's clients through the phases).
The runner needs only what is re-exported here.
"""

from bench.loadgen.clients import CONNECT_TIMEOUT_S
from bench.loadgen.worker import WorkerPlan, worker_main

__all__ = ["CONNECT_TIMEOUT_S", "WorkerPlan", "worker_main"]
