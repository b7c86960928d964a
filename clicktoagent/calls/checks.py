"""The dry run of the safe-calling rules: would this call go out at that moment, and if
not, when? Nothing is stored or sent (``POST /clicktoagent/api/call-checks/``, the admin's
call form)."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import models

from ..conf import app_settings
from ..models import Agent, Queue
from ..phone import normalize_phone
from ..policy.checks import call_check, region_normalize
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


def contact_call_check(
    *, contact: models.Model, phone: str, queue_id: str = ""
) -> CallCheck | None:
    """The rules for calling ``contact`` at ``phone`` now, for a page that offers the call;
    None when no rules apply or the check cannot be made (a bad number or queue: the page
    says so elsewhere)."""
    if not app_settings.SAFE_CALLING_RULES:
        return None
    try:
        return call_check_preview(
            phone_to_call=phone, queue_id=queue_id, contact_region=contact_region_of(contact)
        )
    except ValidationError:
        return None
