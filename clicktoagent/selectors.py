"""Reads of call attempts, agents and queues."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Model, QuerySet

from .models import Agent, CallAttempt, Queue


def call_attempt_list(
    *,
    status: str | None = None,
    agent_id: str | None = None,
    queue_id: str | None = None,
    phone_to_call: str | None = None,
    contact_ref: str | None = None,
    source: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[CallAttempt]:
    """Attempts, newest first, with queue, agent and requester loaded in the same query."""
    qs = CallAttempt.objects.select_related("queue", "agent", "requested_by", "retry_of")
    if status:
        qs = qs.filter(status=status)
    if agent_id:
        qs = qs.filter(agent__agent_id=agent_id)
    if queue_id:
        qs = qs.filter(queue__queue_id=queue_id)
    if phone_to_call:
        qs = qs.filter(phone_to_call=phone_to_call)
    if contact_ref:
        qs = qs.filter(contact_ref=contact_ref)
    if source:
        qs = qs.filter(source=source)
    if created_after:
        qs = qs.filter(created_at__gte=created_after)
    if created_before:
        qs = qs.filter(created_at__lt=created_before)
    return qs.order_by("-created_at", "-id")


def call_attempt_list_for_contact(*, contact: Model) -> QuerySet[CallAttempt]:
    """A local contact's attempts, newest first."""
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.get_for_model(contact)
    return call_attempt_list().filter(content_type=content_type, object_id=str(contact.pk))


def agent_for_user(*, user: object) -> Agent | None:
    """The active agent a user works as, if any."""
    pk = getattr(user, "pk", None)
    if pk is None:
        return None
    return Agent.objects.filter(user_id=pk, is_active=True).first()


def agent_list() -> QuerySet[Agent]:
    """Agents with their queues loaded in one more query."""
    return Agent.objects.prefetch_related("queues").order_by("agent_id")


def queue_list() -> QuerySet[Queue]:
    """Queues, by queue_id."""
    return Queue.objects.order_by("queue_id")
