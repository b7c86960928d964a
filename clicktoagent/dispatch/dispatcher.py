"""The dispatcher: one process that pops attempt ids from the Redis dispatch queue and
sends each attempt, at most once (``manage.py clicktoagent_dispatcher``).

A plain loop beside the task workers, for the one job that must be fast: no task
framework around each attempt, no fork, the database connection, the DialogTech client
and its HTTP pool kept from one attempt to the next. Per id it runs
:func:`~clicktoagent.dispatch.tasks.call_attempt_dispatch`, the same service an RQ
worker runs, so the guarantees are the database's, not the queue's:

* the claim (``pending`` -> ``dispatching``, one conditional UPDATE) decides who sends:
  an id delivered twice, or pushed by anyone, sends nothing that is not a ``pending``
  attempt, and that once;
* an id popped and then lost (the process killed before its claim) leaves the attempt
  ``pending``: the reconciler queues it again;
* an attempt whose dispatcher dies mid-call stays ``dispatching``: the reconciler marks
  it ``unknown``, and it is never dialled again.

Before an attempt the loop does what Django does around a request:
:func:`~django.db.close_old_connections` drops a connection that is too old
(``CONN_MAX_AGE``), broke, or was left inside a transaction, and ``CONN_HEALTH_CHECKS``
checks a kept one before its first query. While attempts follow each other without a
pause that check runs at most once a second (``CHECK_EVERY``), not once an attempt; a
connection that broke in between fails the attempt's first query, and the attempt runs
once more on a new connection (the claim makes that safe). After an attempt that failed,
the check runs at once.

SIGTERM (or Ctrl-C): the attempt in flight finishes and is recorded, then the loop
exits 0. A second one exits at once: the attempt stays ``dispatching`` for the
reconciler, as after SIGKILL.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from types import FrameType

from django.db import InterfaceError, OperationalError, close_old_connections, connections

from ..models import CallAttempt
from .redis_queue import dispatch_queue_pop
from .tasks import call_attempt_dispatch

logger = logging.getLogger("clicktoagent")

# Seconds one blocking pop waits: also how late a deferred id that falls due during an
# idle wait may go, and how long an idle dispatcher takes to notice SIGTERM.
IDLE_WAIT = 1.0
# Seconds between two checks of the database connection while attempts follow each
# other: a busy dispatcher pings the database about once a second, not once an attempt.
CHECK_EVERY = 1.0
# Longest pause between two tries to reach an unreachable Redis.
MOST_BACKOFF = 10.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Dispatcher:
    """Pops ids and dispatches their attempts until stopped (or, with ``burst``, until
    no id is due)."""

    def __init__(self, *, burst: bool = False) -> None:
        self.burst = burst
        self.stopping = False
        self.dispatched = 0
        self._checked_at = -CHECK_EVERY

    def run(self) -> int:
        """Run the loop in this (main) thread; returns how many ids it dispatched."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        logger.info("dispatcher %s started", os.getpid(), extra={"pid": os.getpid()})
        try:
            failures = 0
            while not self.stopping:
                try:
                    attempt_id = dispatch_queue_pop(block=0 if self.burst else IDLE_WAIT)
                except Exception as err:
                    failures += 1
                    self._pause_after(err, failures)
                    continue
                failures = 0
                if attempt_id is None:
                    if self.burst:
                        break
                    continue
                self._dispatch(attempt_id)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            connections.close_all()
        logger.info(
            "dispatcher %s stopped after %d attempts",
            os.getpid(),
            self.dispatched,
            extra={"pid": os.getpid()},
        )
        return self.dispatched

    def _dispatch(self, attempt_id: int) -> None:
        self._check_connections()
        try:
            try:
                call_attempt_dispatch(attempt_id=attempt_id)
            except (InterfaceError, OperationalError):
                # The connection broke since it was checked: a new one, and the attempt
                # once more (its claim keeps a second run from sending it twice).
                self._check_connections(now=True)
                call_attempt_dispatch(attempt_id=attempt_id)
        except CallAttempt.DoesNotExist:
            logger.warning(
                "the dispatch queue named call attempt %s, which does not exist; ignored",
                attempt_id,
                extra={"attempt_id": attempt_id},
            )
        except Exception:
            # The database went away, or a bug of ours: the attempt is pending (the
            # reconciler queues it again) or dispatching (it ends unknown), never lost.
            logger.exception(
                "dispatching call attempt %s failed; the reconciler will take it up",
                attempt_id,
                extra={"attempt_id": attempt_id},
            )
            self._check_connections(now=True)
        finally:
            self.dispatched += 1

    def _check_connections(self, *, now: bool = False) -> None:
        """What Django does around a request (close_old_connections: drop a connection
        that is too old, broke, or was left in a transaction; CONN_HEALTH_CHECKS: ping a
        kept one before its next use), at most every ``CHECK_EVERY`` seconds unless
        ``now``."""
        if now or time.monotonic() - self._checked_at >= CHECK_EVERY:
            close_old_connections()
            self._checked_at = time.monotonic()

    def _pause_after(self, err: Exception, failures: int) -> None:
        delay = min(MOST_BACKOFF, 0.5 * 2 ** (failures - 1))
        logger.warning(
            "the dispatch queue is unreachable (%s); trying again in %.1f s",
            type(err).__name__,
            delay,
        )
        deadline = time.monotonic() + delay
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.1)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            logger.warning("dispatcher %s: second stop signal, exiting now", os.getpid())
            raise SystemExit(128 + signum)
        self.stopping = True
        logger.info("dispatcher %s stopping: finishing the attempt in flight", os.getpid())
