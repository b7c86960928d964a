"""Dispatch through Django's Tasks framework (see ``taskcompat``): the task, queueing it,
and the loop that runs one attempt until it is finished or due later.

The only module that queues the dispatch task; everything below it (``services.py``)
returns when to try again instead.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from ..conf import app_settings
from ..models import CallAttempt
from ..taskcompat import task
from .retry import backend_can_defer, task_enqueue
from .services import call_attempt_send

logger = logging.getLogger("clicktoagent")


@task()
def dispatch_call_attempt(attempt_id: int) -> str:
    """Place the call for one attempt; returns the attempt's status afterwards."""
    return call_attempt_dispatch(attempt_id=attempt_id).status


def call_attempt_enqueue(*, attempt_id: int, run_after: datetime | None = None) -> None:
    """Queue the dispatch task. A failure to queue leaves the attempt ``pending``:
    ``clicktoagent_reconcile`` queues it again later, so nothing is lost."""
    task_enqueue(
        dispatch_call_attempt,
        what=f"call attempt {attempt_id}",
        logger=logger,
        run_after=run_after,
        extra={"attempt_id": attempt_id},
        attempt_id=attempt_id,
    )


def call_attempt_dispatch(*, attempt_id: int) -> CallAttempt:
    """Place the call for a ``pending`` attempt, at most once, and record the outcome.

    What a worker does with the task. An attempt that is due again later (held back by
    the circuit breaker or the request cap, or not sent and retried with backoff) gets
    a deferred task when the backend can defer, so a worker never sleeps. The immediate
    backend retries a never-sent request in-process when the wait is at most
    ``INLINE_RETRY_MAX_WAIT`` seconds; anything longer stays ``pending`` for the
    reconciler.
    """
    while True:
        step = call_attempt_send(attempt_id=attempt_id)
        if step.retry_at is None:
            return step.attempt
        if backend_can_defer():
            call_attempt_enqueue(attempt_id=attempt_id, run_after=step.retry_at)
            return step.attempt
        if step.backoff is None or step.backoff > float(app_settings.INLINE_RETRY_MAX_WAIT):
            return step.attempt
        time.sleep(step.backoff)
