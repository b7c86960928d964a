"""RQ worker for the scale-out setup (needs the ``rq`` extra).

``manage.py rqworker --with-scheduler`` with ``RQ = {"WORKER_CLASS":
"clicktoagent.dispatch.workers.Worker"}``. It is rq's forking worker (SIGTERM: the current
job finishes, then the worker stops) with one change: maintenance runs every
``MAINTENANCE_INTERVAL`` seconds instead of rq's 10 minutes. Maintenance is when an
idle worker takes over the scheduler (which moves deferred retries to the queue)
from a worker that stopped or lost Redis, so retries are never late by minutes.
"""

from __future__ import annotations

from typing import Any

from rq.worker import Worker as RQWorker

MAINTENANCE_INTERVAL = 30


class Worker(RQWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        super().__init__(*args, **kwargs)
