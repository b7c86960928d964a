"""The directory of DialogTech queues and agents: their services and selectors.

Agents and queues are what calls are made with; this module is all that changes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from .models import Agent, Queue
from .phone import normalize_phone
from .validation import FieldErrors

AGENT_FIELDS = frozenset({"agent_id", "name", "phone", "is_active", "queue_ids"})
QUEUE_FIELDS = frozenset(
    {"queue_id", "name", "is_active", "timezone", "opening_hours", "closed_dates"}
)


def _queues_by_id(queue_ids: Iterable[str]) -> list[Queue]:
    wanted = list(dict.fromkeys(str(queue_id) for queue_id in queue_ids))
    found = {queue.queue_id: queue for queue in Queue.objects.filter(queue_id__in=wanted)}
    unknown = [queue_id for queue_id in wanted if queue_id not in found]
    if unknown:
        raise ValidationError(
            {"queue_ids": [f"Unknown queue_id {queue_id!r}." for queue_id in unknown]}
        )
    return [found[queue_id] for queue_id in wanted]


def _agent_save(agent: Agent, *, queue_ids: Iterable[str] | None) -> Agent:
    errors = FieldErrors()
    if agent.phone:
        with errors.check("phone"):
            agent.phone = normalize_phone(agent.phone)
    queues: list[Queue] | None = None
    if queue_ids is not None:
        try:
            queues = _queues_by_id(queue_ids)
        except ValidationError as err:
            errors.update(err.message_dict)
    try:
        agent.full_clean(exclude=["phone"] if "phone" in errors else None)
    except ValidationError as err:
        errors.update(err.message_dict)
    errors.raise_if_any()
    try:
        with transaction.atomic():
            agent.save()
            if queues is not None:
                agent.queues.set(queues)
    except IntegrityError:
        # A concurrent request stored the same agent_id first.
        raise ValidationError(
            {"agent_id": [f"An agent with agent_id {agent.agent_id!r} already exists."]}
        ) from None
    return agent


def agent_create(
    *,
    agent_id: str,
    name: str = "",
    phone: str = "",
    is_active: bool = True,
    queue_ids: Iterable[str] = (),
) -> Agent:
    """Store a DialogTech agent and its queue memberships (``queue_ids``).

    The phone number is normalised like every other number; an unknown ``queue_id``,
    a duplicate ``agent_id`` or a bad phone number raise ``ValidationError`` per field.
    """
    agent = Agent(agent_id=agent_id, name=name, phone=phone, is_active=is_active)
    return _agent_save(agent, queue_ids=queue_ids)


def agent_update(*, agent: Agent, data: Mapping[str, Any]) -> Agent:
    """Change the given fields of an agent (any of :data:`AGENT_FIELDS`).

    ``queue_ids``, when given, replaces the agent's queue memberships.
    """
    unknown = sorted(set(data) - AGENT_FIELDS)
    if unknown:
        raise TypeError(f"agent_update() got unknown field(s): {', '.join(unknown)}")
    for field in AGENT_FIELDS - {"queue_ids"}:
        if field in data:
            setattr(agent, field, data[field])
    return _agent_save(agent, queue_ids=data.get("queue_ids"))


def _queue_save(queue: Queue) -> Queue:
    queue.full_clean()
    try:
        with transaction.atomic():
            queue.save()
    except IntegrityError:
        raise ValidationError(
            {"queue_id": [f"A queue with queue_id {queue.queue_id!r} already exists."]}
        ) from None
    return queue


def queue_create(*, queue_id: str, **data: Any) -> Queue:
    """Store a DialogTech queue (a call distributor building block), with any other of
    :data:`QUEUE_FIELDS` (name, is_active, opening hours)."""
    unknown = sorted(set(data) - QUEUE_FIELDS)
    if unknown:
        raise TypeError(f"queue_create() got unknown field(s): {', '.join(unknown)}")
    return _queue_save(Queue(queue_id=queue_id, **data))


def queue_update(*, queue: Queue, data: Mapping[str, Any]) -> Queue:
    """Change the given fields of a queue (any of :data:`QUEUE_FIELDS`)."""
    unknown = sorted(set(data) - QUEUE_FIELDS)
    if unknown:
        raise TypeError(f"queue_update() got unknown field(s): {', '.join(unknown)}")
    for field in QUEUE_FIELDS:
        if field in data:
            setattr(queue, field, data[field])
    return _queue_save(queue)


# -- reads


def agent_list() -> QuerySet[Agent]:
    """Agents with their queues loaded in one more query."""
    return Agent.objects.prefetch_related("queues").order_by("agent_id")


def queue_list() -> QuerySet[Queue]:
    """Queues, by queue_id."""
    return Queue.objects.order_by("queue_id")


def agent_get(*, agent_id: str) -> Agent | None:
    return Agent.objects.filter(agent_id=agent_id).first()


def agent_for_user(*, user: object) -> Agent | None:
    """The active agent a user works as, if any."""
    pk = getattr(user, "pk", None)
    if pk is None:
        return None
    return Agent.objects.filter(user_id=pk, is_active=True).first()


def agent_first_queue(*, agent: Agent) -> Queue | None:
    """The agent's first active queue (by name, then queue id), used when no queue is
    chosen."""
    return agent.queues.filter(is_active=True).order_by("name", "queue_id").first()
