"""Webhook business rules: store, deduplicate, turn deliveries into call attempts.

Reporting the outcome back (callbacks) is ``callbacks.py`` and ``tasks.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..calls.services import call_attempt_get_or_create
from ..directory import agent_first_queue
from ..exceptions import IdempotencyConflictError, InvalidTransitionError
from ..models import CallAttempt, CrmUserMapping, WebhookEvent, WebhookProvider
from .parsing import IgnoredDeliveryError, UnusableDeliveryError, WebhookCall, get_parser

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
    """Store an authenticated delivery and act on it, unless it is a duplicate.

    The usual delivery (new, and callable) is stored and acted on in one transaction,
    with no savepoint: for a provider with no dedupe window, its attempts are inserted
    first and the event last, already processed (one INSERT, no UPDATE). Anything else
    rolls that transaction back whole and goes the two-step way
    (:func:`_receive_in_two_steps`): the event is committed first, then acted on in a
    savepoint, so whatever goes wrong there leaves it stored: ``rejected`` or
    ``ignored`` with the reason, or ``received`` when an error escapes (raised once the
    event is committed; a redelivery finishes the job). A unique constraint on
    (provider, delivery_id) decides which of any number of concurrent identical
    deliveries is the original, and so do its calls' idempotency keys: the others wait
    for its transaction, are stored as duplicates and never dialled.
    """
    parser = get_parser(provider)
    window = parser.dedupe_window()
    now = timezone.now()

    def new_event() -> WebhookEvent:
        return WebhookEvent(
            provider=provider,
            delivery_id=delivery_id,
            received_at=now,
            body=body,
            headers=headers,
            query=query,
        )

    event = new_event()
    try:
        with transaction.atomic():
            if window is not None:
                _release_expired(provider, delivery_id, now - timedelta(seconds=window))
                # Its calls' idempotency keys name the event's id: stored first.
                event.save()
            outcome = _act(event, first=True)
    except Exception:
        # The delivery id is held (most often a duplicate), or the delivery is refused,
        # or storing or acting on it failed: nothing of the transaction is kept. The
        # two-step way stores the event first; a database that cannot write fails there
        # again, and the sender retries.
        return _receive_in_two_steps(event=new_event(), window=window)
    logger.info("webhook %s: stored delivery %s as event %s", provider, delivery_id, event.pk)
    _log_processed(outcome)
    return outcome


def _release_expired(provider: str, delivery_id: str, before: datetime) -> None:
    """Past the dedupe window the same delivery id is a new delivery: release the old one."""
    WebhookEvent.objects.filter(
        provider=provider,
        delivery_id=delivery_id,
        holds_delivery_id=True,
        received_at__lt=before,
    ).update(holds_delivery_id=False)


def _receive_in_two_steps(*, event: WebhookEvent, window: float | None) -> WebhookOutcome:
    """Commit the event first, then act on it (or on its original, for a duplicate).

    For a delivery whose id was held when it was first stored (stored as a duplicate,
    pointing at the original; or as its own delivery after all, when the holder was
    released or rolled back meanwhile), and for one that acting on in the same
    transaction failed or refused (it is acted on again here, in a savepoint).
    """
    provider, delivery_id = event.provider, event.delivery_id
    with transaction.atomic():
        if window is not None:
            _release_expired(provider, delivery_id, event.received_at - timedelta(seconds=window))
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
    """Turn a stored ``received`` event into call attempts, or record why it cannot be.

    Safe to call concurrently: the event row is locked and only a ``received`` event
    is processed; each attempt also carries an idempotency key derived from the
    delivery, so it is created at most once.
    """
    with transaction.atomic():
        locked = WebhookEvent.objects.select_for_update().get(pk=event.pk)
        if locked.status != Status.RECEIVED:
            return WebhookOutcome(event=locked, attempts=list(locked.attempts.all()))
        outcome = _act(locked, first=False)
    _log_processed(outcome)
    return outcome


def _act(event: WebhookEvent, *, first: bool) -> WebhookOutcome:
    """Create the attempts of a ``received`` event this transaction holds and mark it
    processed; or close it with the reason.

    ``first``: the event is new in this transaction (stored in it already, or stored
    here, processed, when its ``pk`` is None), which is rolled back whole if anything
    goes wrong here (the caller then goes the two-step way), so there is no savepoint
    and a refused delivery raises; and its calls' idempotency keys are not looked up:
    an attempt that holds one already makes the INSERT fail, and the two-step way
    finds the delivery's first event or attempt. Otherwise (a locked event) the work
    runs in a savepoint and a refused delivery is closed with the reason.
    """
    parser = get_parser(event.provider)
    try:
        with transaction.atomic(savepoint=not first):
            calls = parser.calls(event=event)
            attempts = [
                _attempt_for_call(event=event, call=call, index=index, new_key=first)
                for index, call in enumerate(calls)
            ]
            event.status = Status.PROCESSED
            event.error = ""
            event.processed_at = timezone.now()
            event.callback_url = next((c.callback_url for c in calls if c.callback_url), "")
            if event.pk is None:
                event.save()  # a new delivery, stored as acted on: one INSERT
            else:
                event.save(update_fields=["status", "error", "processed_at", "callback_url"])
            event.attempts.add(*attempts)
    except REFUSED as err:
        if first:
            raise
        return _close(event, *_refusal(err))
    # With the immediate task backend the calls are placed when the transaction
    # commits, on these same attempts: they hold their current state.
    return WebhookOutcome(event=event, attempts=attempts)


def _log_processed(outcome: WebhookOutcome) -> None:
    """Once committed: which attempts a processed event made."""
    event = outcome.event
    if event.status == Status.PROCESSED:
        logger.info(
            "webhook %s: event %s processed into attempt(s) %s",
            event.provider,
            event.pk,
            ", ".join(str(a.pk) for a in outcome.attempts),
        )


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


# What refuses a delivery: it is closed (ignored or rejected) with the reason.
REFUSED = (IgnoredDeliveryError, UnusableDeliveryError, IdempotencyConflictError, ValidationError)


def _refusal(err: Exception) -> tuple[str, str]:
    """The status and the reason a refused delivery is closed with."""
    if isinstance(err, IgnoredDeliveryError):
        return Status.IGNORED, str(err)
    if isinstance(err, ValidationError):
        return Status.REJECTED, _validation_reason(err)
    return Status.REJECTED, str(err)


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


def _attempt_for_call(
    *, event: WebhookEvent, call: WebhookCall, index: int, new_key: bool
) -> CallAttempt:
    queue_id, agent_id = webhook_call_route(
        provider=event.provider, call=call, defaults=event.query
    )
    attempt, _created = call_attempt_get_or_create(
        call=call.request(queue_id=queue_id, agent_id=agent_id),
        contact_ref=call.contact_ref,
        contact_region=call.contact_region,
        outside_hours=call.outside_hours or None,
        source=CallAttempt.Source.WEBHOOK,
        idempotency_key=webhook_idempotency_key(event=event, index=index),
        new_key=new_key,
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
    first = agent_first_queue(agent=agent)
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
