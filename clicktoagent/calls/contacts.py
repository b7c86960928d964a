"""Calling contacts: one or many, from the admin, the call button or a host's code.

The outcome is copied onto the contact when the attempt finishes
(``CONTACT_FIELDS``, see ``clicktoagent.dispatch.outcome``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction

from ..directory import agent_first_queue, agent_for_user, agent_get
from ..exceptions import IdempotencyConflictError
from ..models import CallAttempt
from ..phone import normalize_phone
from .request import CallRequest
from .services import call_attempt_get_or_create


@dataclass(frozen=True)
class ContactCallOutcome:
    """What happened to one contact of a multi-contact call request.

    Either ``attempt`` is set (``created`` False when an earlier submission with the
    same idempotency key already made it: nothing was dialled again), or
    ``skipped_reason`` says why no attempt was made for this contact.
    """

    contact: models.Model
    phone: str
    attempt: CallAttempt | None = None
    created: bool = False
    skipped_reason: str = ""


def contact_phone_check(*, phone: str) -> str:
    """Return ``""`` when ``phone`` can be called, else the reason it cannot."""
    if not (phone or "").strip():
        return "No phone number."
    try:
        normalize_phone(phone)
    except ValidationError as err:
        return " ".join(err.messages)
    return ""


def contacts_call(
    *,
    contacts: list[tuple[models.Model, str]],
    queue_id: str,
    agent_id: str,
    source: str,
    first_callerid: str = "",
    second_callerid: str = "",
    record: int | None = None,
    warning: int | None = None,
    requested_by: AbstractBaseUser | None = None,
    idempotency_prefix: str | None = None,
    outside_hours: str | None = None,
    override_reason: str = "",
) -> list[ContactCallOutcome]:
    """Make one attempt per ``(contact, phone)`` pair, linked to the contact.

    Contacts whose phone is empty or invalid are skipped with the reason; the others
    are called. Options shared by every call (queue, agent, caller ids, record,
    warning) are checked first: if any is wrong ``ValidationError`` is raised and
    nothing is stored. All attempts are stored in one transaction and dispatched once
    it commits. With ``idempotency_prefix`` each attempt gets the key
    ``<prefix>:<content type id>:<pk>``, so submitting the same request again returns
    the same attempts (``created=False``) instead of dialling again.
    """
    outcomes: list[ContactCallOutcome | None] = []
    callable_phone = ""
    for contact, phone in contacts:
        reason = contact_phone_check(phone=phone)
        if reason:
            outcomes.append(ContactCallOutcome(contact=contact, phone=phone, skipped_reason=reason))
        else:
            outcomes.append(None)
            callable_phone = callable_phone or phone
    if not callable_phone:
        return [outcome for outcome in outcomes if outcome is not None]
    # The shared options are checked once, up front, so a wrong option stores nothing.
    shared = CallRequest.validate(
        queue_id=queue_id,
        agent_id=agent_id,
        phone_to_call=callable_phone,
        first_callerid=first_callerid,
        second_callerid=second_callerid,
        record=record,
        warning=warning,
    )
    with transaction.atomic():
        for index, (contact, phone) in enumerate(contacts):
            if outcomes[index] is not None:
                continue
            key = None
            if idempotency_prefix:
                content_type = ContentType.objects.get_for_model(contact)
                key = f"{idempotency_prefix}:{content_type.pk}:{contact.pk}"
            try:
                attempt, created = call_attempt_get_or_create(
                    call=shared.with_phone(phone),
                    contact=contact,
                    source=source,
                    requested_by=requested_by,
                    idempotency_key=key,
                    outside_hours=outside_hours,
                    override_reason=override_reason,
                )
            except IdempotencyConflictError:
                outcomes[index] = ContactCallOutcome(
                    contact=contact,
                    phone=phone,
                    skipped_reason=(
                        "This form was already submitted with other options; nothing was "
                        "dialled again. Start again from the contact list to place a new call."
                    ),
                )
                continue
            outcomes[index] = ContactCallOutcome(
                contact=contact, phone=phone, attempt=attempt, created=created
            )
    return [outcome for outcome in outcomes if outcome is not None]


def contact_call(
    *,
    phone_to_call: str,
    source: str,
    requested_by: AbstractBaseUser,
    contact: models.Model | None = None,
    queue_id: str = "",
    agent_id: str = "",
    idempotency_key: str | None = None,
) -> tuple[CallAttempt, bool]:
    """Call one contact for a user, e.g. from a call button on a host page.

    Without ``agent_id`` the call goes to the agent the user works as; without
    ``queue_id``, to that agent's first active queue. Returns ``(attempt, created)``
    as :func:`~clicktoagent.calls.services.call_attempt_get_or_create` does.
    """
    if not agent_id:
        own_agent = agent_for_user(user=requested_by)
        if own_agent is None:
            raise ValidationError(
                {
                    "agent_id": [
                        "No agent to ring: you do not work as an active agent. Link your user "
                        "to an agent, or give the call button an agent and a queue."
                    ]
                }
            )
        agent_id = own_agent.agent_id
    if not queue_id:
        agent = agent_get(agent_id=agent_id)
        queue = agent_first_queue(agent=agent) if agent is not None else None
        if queue is None:
            raise ValidationError(
                {"queue_id": [f"Agent {agent_id!r} is not a member of any active queue."]}
            )
        queue_id = queue.queue_id
    return call_attempt_get_or_create(
        queue_id=queue_id,
        agent_id=agent_id,
        phone_to_call=phone_to_call,
        contact=contact,
        source=source,
        requested_by=requested_by,
        idempotency_key=idempotency_key,
    )
