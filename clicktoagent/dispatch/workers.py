"""RQ worker for the scale-out setup (needs the ``rq`` extra).

``manage.py rqworker --with-scheduler`` with ``RQ = {"WORKER_CLASS":
"clicktoagent.dispatch.workers.Worker"}``. It runs each job in the worker process itself
(rq's ``SimpleWorker``) instead of forking a work horse per job, so everything a job
sets up once is kept for the next one:

* the database connection, for ``CONN_MAX_AGE`` seconds (``DATABASE_CONN_MAX_AGE`` in the
  demo project); Django's own request cycle is replayed around each job: before and after
  it, :func:`django.db.close_old_connections` drops a connection that is too old, broken
  or left in a transaction, and ``CONN_HEALTH_CHECKS`` pings a kept one before its first
  use in the next job;
* the DialogTech client and its HTTP connection pool (``dialogtech.client.get_client``
  keeps one per thread; every job runs in the worker's main thread);
* imported code, compiled settings and caches.

SIGTERM: the current job (the call in flight) finishes, then the worker stops; a second
SIGTERM stops it at once (the attempt stays ``dispatching`` and the reconciler marks it
``unknown``, as after SIGKILL).

Job timeouts: with no work horse there is nothing to kill. rq's ``SimpleWorker`` arms
SIGALRM instead and raises ``JobTimeoutException`` inside the job when ``RQ_JOB_TIMEOUT``
runs out; a call interrupted that way ends ``unknown`` (it may have been sent). A job
stuck where Python cannot run a signal handler (inside a C call that ignores EINTR) is not
interrupted: the DialogTech client's total deadline bounds the request itself, the
reconciler marks the attempt ``unknown`` after that deadline plus its margin, and the
worker's heartbeat lapses so ``rq`` lists it as dead; a supervisor restarts it.

Maintenance runs every ``MAINTENANCE_INTERVAL`` seconds instead of rq's 10 minutes.
Maintenance is when an idle worker takes over the scheduler (which moves deferred retries
to the queue) from a worker that stopped or lost Redis, so retries are never late by
minutes. The scheduler is a forked process, so database connections are closed first:
a child must never share the parent's database socket.

:class:`Queue` (``RQ = {"QUEUE_CLASS": "clicktoagent.dispatch.workers.Queue"}``) asks
Redis for its version once per connection pool and process. rq keeps the version on the
Redis client, but django-rq makes a new client for every queue it hands out, so without
it every task queued (a call, a callback, a CRM write-back) costs one more round trip.
"""

from __future__ import annotations

import weakref
from typing import Any

from django.db import close_old_connections, connections
from django_rq.queues import DjangoRQ
from rq.worker import SimpleWorker

MAINTENANCE_INTERVAL = 30
# Seconds a stopping worker waits for its pubsub thread.
UNSUBSCRIBE_WAIT = 1.0

# The Redis version per connection pool (a pool stands for one server).
_server_versions: weakref.WeakKeyDictionary[Any, tuple[int, int, int]] = weakref.WeakKeyDictionary()


class Queue(DjangoRQ):
    def get_redis_server_version(self) -> tuple[int, int, int]:
        pool = self.connection.connection_pool
        version = _server_versions.get(pool)
        if version is None:
            version = _server_versions[pool] = super().get_redis_server_version()
        return version


class Worker(SimpleWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        super().__init__(*args, **kwargs)

    def execute_job(self, job: Any, queue: Any) -> None:
        # What Django does around a request (request_started / request_finished).
        close_old_connections()
        try:
            super().execute_job(job, queue)
        finally:
            close_old_connections()

    def unsubscribe(self) -> None:
        # rq stops its pubsub thread with stop(), then joins it for a second. Since
        # redis-py 8, stop() itself waits for the thread with no bound, and the thread
        # may be inside a 60-second wait for its subscription (rq's sleep_time): a
        # SIGTERM'd worker then lingered up to a minute after its last job. The wait is
        # bounded here; a thread still running is a daemon and ends with the process.
        thread = self.pubsub_thread
        if thread is None:
            return
        self.log.info(
            "Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name
        )
        self.pubsub.unsubscribe()
        try:
            thread.stop(timeout=UNSUBSCRIBE_WAIT)
        except TypeError:  # redis-py before 8: stop() only asks the thread to end
            thread.stop()
        thread.join(timeout=UNSUBSCRIBE_WAIT)
        if not thread.is_alive():
            self.pubsub.close()

    def run_maintenance_tasks(self) -> None:
        # Maintenance may fork the scheduler process (rq's RQScheduler.start).
        connections.close_all()
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]

    def _start_scheduler(self, *args: Any, **kwargs: Any) -> None:
        connections.close_all()
        super()._start_scheduler(*args, **kwargs)
