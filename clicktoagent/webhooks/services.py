"""Webhook business rules: store, deduplicate, turn into call attempts, report back."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from ..conf import app_settings
from ..exceptions import IdempotencyConflictError, InvalidTransitionError
from ..models import CallAttempt, CrmUserMapping, Queue, WebhookEvent, WebhookProvider
from ..services import call_attempt_get_or_create
from .base import (
    IgnoredDeliveryError,
    UnusableDeliveryError,
    WebhookCall,
    get_parser,
)
from .outbound import CallbackResult, callback_post

logger = logging.getLogger("clicktoagent.webhooks")

Status = WebhookEvent.Status
CallbackStatus = WebhookEvent.CallbackStatus


@dataclass
class WebhookOutcome:
    """What became of one delivery: the stored event, and the original for a duplicate."""

    event: WebhookEvent
    original: WebhookEvent | None = None
    attempts: list[CallAttempt] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.event.status

    @property
    def result_event(self) -> WebhookEvent:
        """The event whose processing decided the outcome (the original of a duplicate)."""
        return self.original or self.event

    def as_dict(self) -> dict[str, Any]:
        decided = self.result_event
        data: dict[str, Any] = {
            "status": self.event.status,
            "event_id": self.event.pk,
            "delivery_id": self.event.delivery_id,
        }
        if self.original is not None:
            data["original_event_id"] = self.original.pk
            data["original_status"] = self.original.status
        if decided.error:
            data["error"] = decided.error
        data["attempts"] = [
            {"id": attempt.pk, "status": attempt.status} for attempt in self.attempts
        ]
        return data


def webhook_delivery_receive(
    *,
    provider: str,
    delivery_id: str,
    body: str,
    headers: dict[str, str],
    query: dict[str, str],
) -> WebhookOutcome:
    """Store an authenticated delivery, then act on it unless it is a duplicate.

    The event is committed before it is processed (so it survives whatever happens
    next), and a unique constraint on (provider, delivery_id) decides which of any
    number of concurrent identical deliveries is the original: the others are stored
    as duplicates and never dialled.
    """
    parser = get_parser(provider)
    window = parser.dedupe_window()
    now = timezone.now()
    with transaction.atomic():
        if window is not None:
            # Past the window the same delivery id is a new delivery: release the old one.
            WebhookEvent.objects.filter(
                provider=provider,
                delivery_id=delivery_id,
                holds_delivery_id=True,
                received_at__lt=now - timedelta(seconds=window),
            ).update(holds_delivery_id=False)
        event = WebhookEvent(
            provider=provider,
            delivery_id=delivery_id,
            received_at=now,
            body=body,
            headers=headers,
            query=query,
        )
        try:
            with transaction.atomic():
                event.save()
        except IntegrityError:
            original = (
                WebhookEvent.objects.filter(
                    provider=provider, delivery_id=delivery_id, holds_delivery_id=True
                )
                .order_by("-received_at")
                .first()
            )
            event.pk = None
            event.status = Status.DUPLICATE
            event.holds_delivery_id = False
            event.duplicate_of = original
            event.save()
            logger.info(
                "webhook %s: delivery %s is a duplicate of event %s",
                provider,
                delivery_id,
                original.pk if original else "?",
            )
        else:
            logger.info(
                "webhook %s: stored delivery %s as event %s", provider, delivery_id, event.pk
            )

    if event.status == Status.DUPLICATE:
        original = event.duplicate_of
        if original is None:
            return WebhookOutcome(event=event)
        if original.status == Status.RECEIVED:
            # The original was stored but never processed (e.g. the database went away
            # in between): this redelivery finishes the job, at most once.
            outcome = webhook_event_process(event=original)
            original = outcome.event
        return WebhookOutcome(
            event=event, original=original, attempts=list(original.attempts.all())
        )
    return webhook_event_process(event=event)


def webhook_event_process(*, event: WebhookEvent) -> WebhookOutcome:
    """Turn a ``received`` event into call attempts, or record why it cannot be.

    Safe to call concurrently: the event row is locked and only a ``received`` event
    is processed; each attempt also carries an idempotency key derived from the
    delivery, so it is created at most once.
    """
    parser = get_parser(event.provider)
    try:
        with transaction.atomic():
            locked = WebhookEvent.objects.select_for_update().get(pk=event.pk)
            if locked.status != Status.RECEIVED:
                return WebhookOutcome(event=locked, attempts=list(locked.attempts.all()))
            calls = parser.calls(event=locked)
            attempts = [
                _attempt_for_call(event=locked, call=call, index=index)
                for index, call in enumerate(calls)
            ]
            locked.attempts.add(*attempts)
            locked.status = Status.PROCESSED
            locked.error = ""
            locked.processed_at = timezone.now()
            locked.callback_url = next((c.callback_url for c in calls if c.callback_url), "")
            locked.save(update_fields=["status", "error", "processed_at", "callback_url"])
    except IgnoredDeliveryError as err:
        return _close(event, Status.IGNORED, str(err))
    except UnusableDeliveryError as err:
        return _close(event, Status.REJECTED, str(err))
    except ValidationError as err:
        return _close(event, Status.REJECTED, _validation_reason(err))
    except IdempotencyConflictError as err:
        return _close(event, Status.REJECTED, str(err))
    logger.info(
        "webhook %s: event %s processed into attempt(s) %s",
        locked.provider,
        locked.pk,
        ", ".join(str(a.pk) for a in attempts),
    )
    # With the immediate task backend the calls were placed when the transaction
    # committed: answer with their current state.
    for attempt in attempts:
        attempt.refresh_from_db()
    return WebhookOutcome(event=locked, attempts=attempts)


def webhook_event_process_again(*, event: WebhookEvent) -> WebhookOutcome:
    """Process a rejected, ignored or never-processed event again (after a fix of the
    settings or the CRM user mappings). Processed events and duplicates are refused:
    retry their call attempt instead."""
    reopened = WebhookEvent.objects.filter(
        pk=event.pk, status__in=[Status.REJECTED, Status.IGNORED, Status.RECEIVED]
    ).update(status=Status.RECEIVED, error="")
    event.refresh_from_db()
    if not reopened:
        raise InvalidTransitionError(
            f"Webhook event {event.pk} is {event.status}; only rejected, ignored or "
            "unprocessed events can be processed again (retry a failed call from its "
            "call attempt instead)."
        )
    logger.info("webhook %s: processing event %s again", event.provider, event.pk)
    return webhook_event_process(event=event)


def _close(event: WebhookEvent, status: str, reason: str) -> WebhookOutcome:
    WebhookEvent.objects.filter(pk=event.pk, status=Status.RECEIVED).update(
        status=status, error=reason, processed_at=timezone.now()
    )
    event.refresh_from_db()
    log = logger.warning if status == Status.REJECTED else logger.info
    log("webhook %s: event %s %s: %s", event.provider, event.pk, event.status, event.error)
    return WebhookOutcome(event=event)


def _validation_reason(err: ValidationError) -> str:
    if hasattr(err, "error_dict"):
        return "; ".join(
            f"{name}: {message}"
            for name, messages in err.message_dict.items()
            for message in messages
        )
    return "; ".join(err.messages)


def webhook_idempotency_key(*, event: WebhookEvent, index: int) -> str:
    """The idempotency key of the ``index``-th call of a delivery.

    For providers deduplicated within a time window the delivery id can legitimately
    come back later, so the event's own id is part of the key.
    """
    delivery = event.delivery_id
    if get_parser(event.provider).dedupe_window() is not None:
        delivery = f"{delivery}@{event.pk}"
    return f"webhook:{event.provider}:{delivery}:{index}"


def _attempt_for_call(*, event: WebhookEvent, call: WebhookCall, index: int) -> CallAttempt:
    queue_id, agent_id = webhook_call_route(
        provider=event.provider, call=call, defaults=event.query
    )
    attempt, _created = call_attempt_get_or_create(
        queue_id=queue_id,
        agent_id=agent_id,
        phone_to_call=call.phone_to_call,
        first_callerid=call.first_callerid,
        second_callerid=call.second_callerid,
        record=call.record,
        warning=call.warning,
        contact_ref=call.contact_ref,
        source=CallAttempt.Source.WEBHOOK,
        idempotency_key=webhook_idempotency_key(event=event, index=index),
    )
    return attempt


def webhook_call_route(
    *, provider: str, call: WebhookCall, defaults: dict[str, str]
) -> tuple[str, str]:
    """The (queue_id, agent_id) a call goes to.

    The agent mapped from the record's CRM owner wins; then the delivery's own
    agent_id; then the webhook URL's ``agent_id``. The queue is the delivery's or the
    URL's ``queue_id``, except that for a mapped agent who is not a member of it, the
    mapped agent's first active queue (by name, then queue id) is used.
    """
    queue_id = call.queue_id or defaults.get("queue_id", "")
    agent_id = call.agent_id or defaults.get("agent_id", "")
    mapping = crm_user_mapping_get(provider=provider, crm_user_id=call.owner_id)
    if mapping is None:
        return queue_id, agent_id
    agent = mapping.agent
    if queue_id and agent.queues.filter(queue_id=queue_id, is_active=True).exists():
        return queue_id, agent.agent_id
    first: Queue | None = agent.queues.filter(is_active=True).order_by("name", "queue_id").first()
    if first is None:
        raise UnusableDeliveryError(
            f"Agent {agent.agent_id!r} (mapped from {provider} owner {call.owner_id!r}) is "
            "not a member of any active queue."
        )
    return first.queue_id, agent.agent_id


def crm_user_mapping_get(*, provider: str, crm_user_id: str) -> CrmUserMapping | None:
    if not crm_user_id:
        return None
    ids = [crm_user_id]
    if provider == WebhookProvider.SALESFORCE and len(crm_user_id) == 18:
        # Salesforce ids come as 18 characters; people often copy the 15-character form.
        ids.append(crm_user_id[:15])
    return (
        CrmUserMapping.objects.select_related("agent")
        .filter(provider=provider, crm_user_id__in=ids)
        .first()
    )


# -- results back: the signed callback of the generic endpoint ---------------------


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
    from .tasks import deliver_webhook_callback

    task = deliver_webhook_callback.using(
        backend=app_settings.TASK_BACKEND,
        queue_name=app_settings.TASK_QUEUE_NAME,
        run_after=run_after,
    )
    try:
        task.enqueue(event_id=event_id, attempt_id=attempt_id)
    except Exception as err:
        logger.warning(
            "could not queue the callback of event %s (%s); it stays pending for the reconciler",
            event_id,
            type(err).__name__,
        )


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
            "phone_to_call": attempt.phone_to_call,
            "queue_id": attempt.queue.queue_id,
            "agent_id": attempt.agent.agent_id,
            "contact_ref": attempt.contact_ref,
            "finished_at": attempt.finished_at.isoformat() if attempt.finished_at else None,
        },
    }


@sensitive_variables("secret")
def webhook_callback_deliver(*, event_id: int, attempt_id: int) -> str:
    """Try once to POST the outcome of ``attempt_id`` to the event's ``callback_url``,
    signed the Standard Webhooks way with ``WEBHOOK_SECRET``. Returns the callback status.

    The try is claimed with one conditional UPDATE (pending, due, tries left), which
    also leases it, so duplicate tasks (a deferred retry and the reconciler's) send it
    once. It never sleeps: a failed try is scheduled again, as a deferred task when the
    backend can defer, otherwise left ``pending`` with ``callback_next_try_at`` for
    ``clicktoagent_reconcile``; with the immediate backend a webhook request therefore
    waits for at most one try (``WEBHOOK_CALLBACK_TIMEOUT``). Gives up after
    ``WEBHOOK_CALLBACK_MAX_TRIES`` tries, or at once when the URL is refused.
    """
    from standardwebhooks.webhooks import Webhook

    from ..taskcompat import task_backends

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
        return str(event.callback_status)
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
        return str(CallbackStatus.DELIVERED)
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
        return str(CallbackStatus.FAILED)
    delay = _callback_backoff(tries)
    next_try_at = timezone.now() + timedelta(seconds=delay)
    WebhookEvent.objects.filter(pk=event.pk, callback_status=CallbackStatus.PENDING).update(
        callback_error=result.error, callback_next_try_at=next_try_at
    )
    if task_backends[app_settings.TASK_BACKEND].supports_defer:
        _callback_enqueue(event_id=event.pk, attempt_id=attempt_id, run_after=next_try_at)
        retry = f"retrying in {delay:.1f} s"
    else:
        retry = "the reconciler sends it again once it is due"
    logger.info(
        "webhook callback of event %s failed (try %d: %s); %s", event.pk, tries, result.error, retry
    )
    return str(CallbackStatus.PENDING)


def _callback_backoff(tries: int) -> float:
    base = float(app_settings.WEBHOOK_CALLBACK_BACKOFF) * (2 ** (tries - 1))
    capped = min(base, float(app_settings.WEBHOOK_CALLBACK_BACKOFF_MAX))
    return float(capped * random.uniform(0.5, 1.0))  # noqa: S311


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
