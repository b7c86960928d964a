"""Dispatch through Django's Tasks framework (see ``taskcompat``), or through the Redis
dispatch queue when ``DISPATCH_QUEUE`` is set (``redis_queue.py``, run by
``dispatcher.py``): the task, queueing an attempt, and the loop that runs one attempt
until it is finished or due later.

The only module that queues attempts; everything below it (``services.py``) returns when
to try again instead.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from ..conf import app_settings
from ..models import CallAttempt
from ..taskcompat import runs_immediately, task
from .redis_queue import dispatch_queue_on, dispatch_queue_push
from .retry import backend_can_defer, enqueue_or_leave_pending, task_enqueue
from .services import (
    SendStep,
    call_attempt_send,
    call_attempt_send_claimed,
    inline_claim,
    inline_claim_renew,
)

logger = logging.getLogger("clicktoagent")


@task()
def dispatch_call_attempt(attempt_id: int) -> str:
    """Place the call for one attempt; returns the attempt's status afterwards."""
    return call_attempt_dispatch(attempt_id=attempt_id).status


def call_attempt_enqueue(*, attempt_id: int, run_after: datetime | None = None) -> None:
    """Queue the attempt for dispatch: its id on the dispatch queue when
    ``DISPATCH_QUEUE`` is set, else the dispatch task. A failure to queue leaves the
    attempt ``pending``: ``clicktoagent_reconcile`` queues it again later, so nothing is
    lost."""
    if dispatch_queue_on():
        enqueue_or_leave_pending(
            lambda: dispatch_queue_push(attempt_id, run_after=run_after),
            what=f"call attempt {attempt_id}",
            logger=logger,
            extra={"attempt_id": attempt_id},
        )
        return
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

    What a worker does with the task, and a dispatcher with an id it popped. An attempt
    that is due again later (held back by the circuit breaker or the request cap, or not
    sent and retried with backoff) is queued again for then when dispatch can defer
    (:func:`dispatch_can_defer`), so a worker never sleeps. The immediate
    backend retries a never-sent request in-process when the wait is at most
    ``INLINE_RETRY_MAX_WAIT`` seconds; anything longer stays ``pending`` for the
    reconciler.
    """
    return _until_done(call_attempt_send(attempt_id=attempt_id))


def dispatch_inline_claim() -> dict[str, object] | None:
    """For an attempt about to be stored: its claimed fields when this process will send
    it itself once it is committed (the immediate backend, and nothing holds dispatch
    back), else None (store it ``pending`` and queue it)."""
    if dispatch_queue_on() or not runs_immediately(app_settings.TASK_BACKEND):
        return None
    return inline_claim()


def call_attempt_dispatch_claimed(attempt: CallAttempt) -> CallAttempt:
    """Send an attempt stored already claimed by :func:`dispatch_inline_claim`, then go
    on like :func:`call_attempt_dispatch` until it is finished or due later. Runs after
    the commit, like a task: an error of ours is logged, never raised into the request,
    and leaves the attempt to the reconciler."""
    try:
        inline_claim_renew(attempt)
        finished = _until_done(call_attempt_send_claimed(attempt))
        if finished is not attempt:
            # Tried again after a request that never left: the caller's copy catches up.
            attempt.refresh_from_db()
        return attempt
    except Exception:
        logger.exception(
            "call attempt %s: sending it failed; the reconciler will close it",
            attempt.pk,
            extra={"attempt_id": attempt.pk},
        )
        return attempt


def dispatch_can_defer() -> bool:
    """Whether an attempt can be queued to go later (the dispatch queue, or a task backend
    that defers, RQ) rather than only now (the immediate backend)."""
    return dispatch_queue_on() or backend_can_defer()


def _until_done(step: SendStep) -> CallAttempt:
    attempt_id = step.attempt.pk
    while True:
        if step.retry_at is None:
            return step.attempt
        if dispatch_can_defer():
            call_attempt_enqueue(attempt_id=attempt_id, run_after=step.retry_at)
            return step.attempt
        if step.backoff is None or step.backoff > float(app_settings.INLINE_RETRY_MAX_WAIT):
            return step.attempt
        time.sleep(step.backoff)
        step = call_attempt_send(attempt_id=attempt_id)
