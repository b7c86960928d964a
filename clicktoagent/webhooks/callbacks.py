"""Reporting an outcome back: one signed try of the generic endpoint's ``callback_url``.

Nothing here queues a task: a failed try returns when it is due again, and ``tasks.py``
schedules it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from standardwebhooks.webhooks import Webhook

from ..conf import app_settings
from ..dispatch.retry import backoff
from ..models import CallAttempt, WebhookEvent
from .outbound import CallbackResult, callback_post

logger = logging.getLogger("clicktoagent.webhooks")

CallbackStatus = WebhookEvent.CallbackStatus


@dataclass(frozen=True)
class CallbackStep:
    """A try's outcome: the callback status, and when a ``pending`` one is due again."""

    status: str
    retry_at: datetime | None = None


def webhook_callback_payload(*, event: WebhookEvent, attempt: CallAttempt) -> dict[str, Any]:
    return {
        "type": "call_attempt.finished",
        "timestamp": timezone.now().isoformat(),
        "data": {
            "webhook_id": event.delivery_id,
            "event_id": event.pk,
            "attempt_id": attempt.pk,
            "status": attempt.status,
            "sid": attempt.sid,
            "result": attempt.result,
            "result_description": attempt.result_description,
            "error": attempt.error,
            "violations": attempt.violations,
            "phone_to_call": attempt.phone_to_call,
            "queue_id": attempt.queue.queue_id,
            "agent_id": attempt.agent.agent_id,
            "contact_ref": attempt.contact_ref,
            "finished_at": attempt.finished_at.isoformat() if attempt.finished_at else None,
        },
    }


@sensitive_variables("secret")
def webhook_callback_try(*, event_id: int, attempt_id: int) -> CallbackStep:
    """Try once to POST the outcome of ``attempt_id`` to the event's ``callback_url``,
    signed the Standard Webhooks way with ``WEBHOOK_SECRET``.

    The try is claimed with one conditional UPDATE (pending, due, tries left), which
    also leases it, so duplicate tasks (a deferred retry and the reconciler's) send it
    once. It never sleeps: a failed try is left ``pending`` with
    ``callback_next_try_at``, returned as ``retry_at`` for the caller to schedule. Gives
    up after ``WEBHOOK_CALLBACK_MAX_TRIES`` tries, or at once when the URL is refused.
    """
    max_tries = int(app_settings.WEBHOOK_CALLBACK_MAX_TRIES)
    timeout = float(app_settings.WEBHOOK_CALLBACK_TIMEOUT)
    now = timezone.now()
    lease_until = now + timedelta(
        seconds=timeout + float(app_settings.RECONCILE_DISPATCHING_MARGIN)
    )
    claimed = (
        WebhookEvent.objects.filter(
            Q(callback_next_try_at__isnull=True) | Q(callback_next_try_at__lte=now),
            pk=event_id,
            callback_status=CallbackStatus.PENDING,
            callback_tries__lt=max_tries,
        )
        .exclude(callback_url="")
        .update(callback_tries=F("callback_tries") + 1, callback_next_try_at=lease_until)
    )
    event = WebhookEvent.objects.get(pk=event_id)
    if not claimed:
        return CallbackStep(str(event.callback_status))
    tries = event.callback_tries
    secret = str(app_settings.WEBHOOK_SECRET)
    if not secret:
        result = CallbackResult(
            delivered=False,
            error="WEBHOOK_SECRET is not set, so the callback cannot be signed.",
            retry=False,
        )
    else:
        attempt = CallAttempt.objects.select_related("queue", "agent").get(pk=attempt_id)
        data = json.dumps(webhook_callback_payload(event=event, attempt=attempt))
        message_id = f"msg_clicktoagent_{event.pk}_{attempt.pk}"
        moment = timezone.now()
        signature = Webhook(secret).sign(msg_id=message_id, timestamp=moment, data=data)
        try:
            result = callback_post(
                url=event.callback_url,
                data=data.encode(),
                headers={
                    "Content-Type": "application/json",
                    "webhook-id": message_id,
                    "webhook-timestamp": str(int(moment.timestamp())),
                    "webhook-signature": signature,
                },
                timeout=timeout,
            )
        except Exception as err:
            # A bug of ours must not leave the try leased until the reconciler sees it.
            logger.exception("unexpected error sending the callback of event %s", event.pk)
            result = CallbackResult(
                delivered=False,
                error=f"Unexpected error while sending the callback ({type(err).__name__}).",
            )
    if result.delivered:
        WebhookEvent.objects.filter(pk=event.pk).update(
            callback_status=CallbackStatus.DELIVERED,
            callback_error="",
            callback_next_try_at=None,
            callback_delivered_at=timezone.now(),
        )
        logger.info("webhook callback of event %s delivered (try %d)", event.pk, tries)
        return CallbackStep(str(CallbackStatus.DELIVERED))
    if not result.retry or tries >= max_tries:
        WebhookEvent.objects.filter(pk=event.pk).update(
            callback_status=CallbackStatus.FAILED,
            callback_error=result.error,
            callback_next_try_at=None,
        )
        logger.warning(
            "webhook callback of event %s failed for good after %d tries: %s",
            event.pk,
            tries,
            result.error,
        )
        return CallbackStep(str(CallbackStatus.FAILED))
    delay = backoff(
        tries,
        first=float(app_settings.WEBHOOK_CALLBACK_BACKOFF),
        most=float(app_settings.WEBHOOK_CALLBACK_BACKOFF_MAX),
    )
    next_try_at = timezone.now() + timedelta(seconds=delay)
    WebhookEvent.objects.filter(pk=event.pk, callback_status=CallbackStatus.PENDING).update(
        callback_error=result.error, callback_next_try_at=next_try_at
    )
    logger.info(
        "webhook callback of event %s failed (try %d: %s); next try in %.1f s",
        event.pk,
        tries,
        result.error,
        delay,
    )
    return CallbackStep(str(CallbackStatus.PENDING), retry_at=next_try_at)
