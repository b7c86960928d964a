"""Webhook callbacks through Django's Tasks framework: the task, queueing it, scheduling
the callbacks of a finished attempt, and the reconciler's share (callbacks whose task
was lost). The only module that queues a callback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from ..conf import app_settings
from ..dispatch.retry import backend_can_defer, task_enqueue
from ..models import CallAttempt, WebhookEvent
from ..taskcompat import task
from .callbacks import webhook_callback_try

logger = logging.getLogger("clicktoagent.webhooks")

CallbackStatus = WebhookEvent.CallbackStatus


@task()
def deliver_webhook_callback(event_id: int, attempt_id: int) -> str:
    """POST a finished attempt's outcome to its event's callback URL (signed)."""
    return webhook_callback_deliver(event_id=event_id, attempt_id=attempt_id)


def webhook_callback_deliver(*, event_id: int, attempt_id: int) -> str:
    """One try of the callback (see :func:`~.callbacks.webhook_callback_try`); returns
    the callback status.

    A failed try is scheduled again as a deferred task when the backend can defer,
    otherwise left ``pending`` for ``clicktoagent_reconcile``; with the immediate
    backend a webhook request therefore waits for at most one try
    (``WEBHOOK_CALLBACK_TIMEOUT``).
    """
    step = webhook_callback_try(event_id=event_id, attempt_id=attempt_id)
    if step.retry_at is not None and backend_can_defer():
        _callback_enqueue(event_id=event_id, attempt_id=attempt_id, run_after=step.retry_at)
    return step.status


def webhook_callbacks_schedule(*, attempt: CallAttempt) -> int:
    """Queue the callback of every event that asked for one about ``attempt``.

    A new outcome is a new message: its tries start again. Due now, so the reconciler
    sends it should the task be lost.
    """
    events = list(WebhookEvent.objects.filter(attempts=attempt).exclude(callback_url="").only("pk"))
    for event in events:
        WebhookEvent.objects.filter(pk=event.pk).update(
            callback_status=CallbackStatus.PENDING,
            callback_error="",
            callback_tries=0,
            callback_next_try_at=timezone.now(),
        )
        _callback_enqueue(event_id=event.pk, attempt_id=attempt.pk)
    return len(events)


def _callback_enqueue(*, event_id: int, attempt_id: int, run_after: datetime | None = None) -> None:
    """Queue one callback try. A failure to queue leaves it ``pending`` for the reconciler."""
    task_enqueue(
        deliver_webhook_callback,
        what=f"the callback of event {event_id}",
        logger=logger,
        run_after=run_after,
        event_id=event_id,
        attempt_id=attempt_id,
    )


@dataclass(frozen=True)
class CallbackReconcileReport:
    requeued: list[int]
    failed: list[int]


def webhook_callbacks_reconcile(
    *, pending_after: float | None = None, limit: int = 1000
) -> CallbackReconcileReport:
    """Send again the callbacks nobody will send; close those out of tries.

    A ``pending`` callback due (``callback_next_try_at``) more than ``pending_after``
    seconds ago (default ``RECONCILE_PENDING_AFTER``) has no task: with a backend that
    cannot defer (immediate) a failed try is always left so, with a queueing backend its
    task was lost. Moving its due time to now is a conditional UPDATE, a lease, so of
    several reconcilers exactly one queues it. One whose tries are used up (the worker of
    its last try was lost) is marked ``failed``. Safe to run concurrently.
    """
    if pending_after is None:
        pending_after = float(app_settings.RECONCILE_PENDING_AFTER)
    max_tries = int(app_settings.WEBHOOK_CALLBACK_MAX_TRIES)
    now = timezone.now()
    cutoff = now - timedelta(seconds=pending_after)
    overdue = (
        Q(callback_status=CallbackStatus.PENDING)
        & ~Q(callback_url="")
        & (
            Q(callback_next_try_at__lte=cutoff)
            | Q(callback_next_try_at__isnull=True, processed_at__lte=cutoff)
        )
    )
    failed: list[int] = []
    exhausted = overdue & Q(callback_tries__gte=max_tries)
    for pk, tries in (
        WebhookEvent.objects.filter(exhausted)
        .order_by("pk")
        .values_list("pk", "callback_tries")[:limit]
    ):
        closed = WebhookEvent.objects.filter(exhausted, pk=pk).update(
            callback_status=CallbackStatus.FAILED,
            callback_next_try_at=None,
            callback_error=(
                f"Gave up after {tries} tries; the last try was lost before its outcome "
                "was recorded."
            ),
        )
        if closed:
            failed.append(pk)
            logger.warning("webhook callback of event %s failed: its last try was lost", pk)

    requeued: list[int] = []
    retry = overdue & Q(callback_tries__lt=max_tries)
    for pk in (
        WebhookEvent.objects.filter(retry).order_by("pk").values_list("pk", flat=True)[:limit]
    ):
        # A generic delivery makes one attempt; the latest is the one to report.
        attempt_id = (
            CallAttempt.objects.filter(webhook_events=pk)
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
        )
        if attempt_id is None:
            if WebhookEvent.objects.filter(retry, pk=pk).update(
                callback_status=CallbackStatus.FAILED,
                callback_next_try_at=None,
                callback_error="Its call attempt no longer exists.",
            ):
                failed.append(pk)
            continue
        if WebhookEvent.objects.filter(retry, pk=pk).update(callback_next_try_at=now):
            requeued.append(pk)
            logger.info("webhook callback of event %s queued again by the reconciler", pk)
            _callback_enqueue(event_id=pk, attempt_id=attempt_id)
    return CallbackReconcileReport(requeued=requeued, failed=failed)
