"""The dry run of the safe-calling rules: would this call go out at that moment, and if
not, when? Nothing is stored or sent (``POST /clicktoagent/api/call-checks/``, the admin's
call form)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import models
from django.utils import timezone

from ..conf import app_settings
from ..models import Agent, Queue
from ..phone import normalize_phone
from ..policy.checks import call_check, region_normalize
from ..policy.records import PrefetchedRecords
from ..policy.regions import place, stored_forms
from ..policy.result import CallCheck
from ..validation import FieldErrors
from .guard import contact_region_of


def call_check_preview(
    *,
    phone_to_call: str,
    queue_id: str = "",
    agent_id: str = "",
    record: int | None = None,
    warning: int | None = None,
    contact_region: str = "",
    at: datetime | None = None,
) -> CallCheck:
    """Check a call against the rules at ``at`` (default now), counting past attempts as
    they are in the database. Bad input raises ``ValidationError`` per field. Without a
    ``queue_id`` there are no queue hours to check."""
    errors = FieldErrors()
    number = ""
    with errors.check("phone_to_call"):
        number = normalize_phone(phone_to_call)
    queue = Queue.objects.filter(queue_id=queue_id).first() if queue_id else None
    if queue_id and queue is None:
        errors["queue_id"] = [f"Unknown queue_id {queue_id!r}."]
    if agent_id:
        agent = Agent.objects.filter(agent_id=agent_id).first()
        if agent is None:
            errors["agent_id"] = [f"Unknown agent_id {agent_id!r}."]
        elif queue is not None and not agent.queues.filter(pk=queue.pk).exists():
            errors["agent_id"] = [f"Agent {agent_id!r} is not a member of queue {queue_id!r}."]
    region = ""
    if contact_region and number:
        with errors.check("contact_region"):
            region = region_normalize(contact_region, phone_to_call=number)
    errors.raise_if_any()
    return call_check(
        phone_to_call=number,
        queue=queue,
        record=app_settings.DEFAULT_RECORD if record is None else record,
        warning=app_settings.DEFAULT_WARNING if warning is None else warning,
        contact_region=region,
        at=at,
    )


def contact_call_checks(
    *, contacts: Sequence[tuple[models.Model, str]], queue_id: str = ""
) -> list[CallCheck | None]:
    """The rules for calling each ``(contact, phone)`` now, for a page that offers the
    calls; None for one when no rules apply or its check cannot be made (a bad number,
    state or queue: the page says so elsewhere). One moment for all, and the queue, the
    do-not-call list and the recent attempts read once (one query each) for all of them."""
    rules = app_settings.SAFE_CALLING_RULES
    queue = Queue.objects.filter(queue_id=queue_id).first() if rules and queue_id else None
    if not rules or (queue_id and queue is None):
        return [None] * len(contacts)
    calls: list[tuple[str, str] | None] = []
    for contact, phone in contacts:
        errors = FieldErrors()
        with errors.check("phone_to_call"):
            number = normalize_phone(phone)
            region = region_normalize(contact_region_of(contact), phone_to_call=number)
        calls.append(None if errors else (number, region))
    numbers = [call[0] for call in calls if call is not None]
    moment = timezone.now()
    records = PrefetchedRecords(
        e164s=[place(number).e164 for number in numbers],
        forms=[form for number in numbers for form in stored_forms(place(number).e164, number)],
        moment=moment,
    )
    return [
        None
        if call is None
        else call_check(
            phone_to_call=call[0],
            queue=queue,
            record=app_settings.DEFAULT_RECORD,
            warning=app_settings.DEFAULT_WARNING,
            contact_region=call[1],
            at=moment,
            records=records,
        )
        for call in calls
    ]
