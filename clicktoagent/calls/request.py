"""``CallRequest``: the seven fields of one call, checked and normalised."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack, cast

from django.core.exceptions import ValidationError
from django.db import router
from django.db.models import Model

from ..conf import app_settings
from ..models import Agent, CallAttempt, Queue
from ..phone import normalize_phone
from ..statements import Parts, Statement, column, join, select_list, table
from ..validation import FieldErrors


class CallFields(TypedDict, total=False):
    """The seven fields as a caller gives them: ids, numbers as typed, optional options
    (a missing queue, agent or number is a validation error, not a TypeError)."""

    queue_id: str
    agent_id: str
    phone_to_call: str
    first_callerid: str
    second_callerid: str
    record: int | None  # None: DEFAULT_RECORD
    warning: int | None  # None: DEFAULT_WARNING


def call_fields_of(source: object) -> CallFields:
    """The seven fields, read from the attributes of ``source`` that bear their names."""
    return cast(CallFields, {name: getattr(source, name) for name in CallFields.__annotations__})


# The numbers of a call: the one to call is required, the caller ids are not.
NUMBER_FIELDS = (("phone_to_call", True), ("first_callerid", False), ("second_callerid", False))


@dataclass(frozen=True)
class CallRequest:
    """A validated request to place a call: numbers normalised, queue and agent checked."""

    queue: Queue
    agent: Agent
    phone_to_call: str
    first_callerid: str
    second_callerid: str
    record: int
    warning: int

    @classmethod
    def validate(cls, **given: Unpack[CallFields]) -> CallRequest:
        """Check and normalise :class:`CallFields`; raise ``ValidationError`` per field."""
        errors = FieldErrors()
        numbers: dict[str, str] = {}
        for field, required in NUMBER_FIELDS:
            value = str(given.get(field) or "")
            if not required and not value.strip():
                numbers[field] = ""
                continue
            with errors.check(field):
                numbers[field] = normalize_phone(value)
        record = given.get("record")
        warning = given.get("warning")
        record_value = app_settings.DEFAULT_RECORD if record is None else record
        warning_value = app_settings.DEFAULT_WARNING if warning is None else warning
        if record_value not in (0, 1):
            errors["record"] = [f"record must be 0 or 1, got {record_value!r}."]
        if warning_value not in (0, 1, 2, 3):
            errors["warning"] = [f"warning must be 0, 1, 2 or 3, got {warning_value!r}."]
        queue, agent = _queue_and_agent(
            given.get("queue_id", ""), given.get("agent_id", ""), errors
        )
        errors.raise_if_any()
        assert queue is not None and agent is not None
        return cls(
            queue=queue,
            agent=agent,
            record=int(record_value),
            warning=int(warning_value),
            **numbers,
        )

    @classmethod
    def of_attempt(cls, attempt: CallAttempt) -> CallRequest:
        """The call an attempt stored, as it was sent (not checked again)."""
        return cls(**{f.name: getattr(attempt, f.name) for f in dataclasses.fields(cls)})

    def as_fields(self) -> CallFields:
        """The call as :class:`CallFields`, e.g. to check it again against today's data."""
        return {
            "queue_id": self.queue.queue_id,
            "agent_id": self.agent.agent_id,
            "phone_to_call": self.phone_to_call,
            "first_callerid": self.first_callerid,
            "second_callerid": self.second_callerid,
            "record": self.record,
            "warning": self.warning,
        }

    def attempt_values(self) -> dict[str, Any]:
        """The call as :class:`~clicktoagent.models.CallAttempt` fields."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def with_phone(self, phone_to_call: str) -> CallRequest:
        """The same call to another number (``ValidationError`` when it is not callable)."""
        try:
            number = normalize_phone(phone_to_call)
        except ValidationError as err:
            raise ValidationError({"phone_to_call": err.messages}) from None
        return dataclasses.replace(self, phone_to_call=number)

    def fingerprint(self, *, contact_key: str) -> str:
        """A hash of the call and its contact: what an idempotency key was first used for."""
        data = [*self.as_fields().values(), contact_key]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()


_MEMBERSHIP_PARTS: Parts = ((Queue, "q"), (Agent, "a"))


def _membership_statement(using: str) -> str:
    membership = Agent.queues.through

    def col(model: type[Model], name: str) -> str:
        return column(using, model, name)

    # Only names from the models' metadata are put in; every value is a parameter.
    return (
        f"SELECT {select_list(using, _MEMBERSHIP_PARTS)} "  # noqa: S608
        f"FROM {table(using, membership)} m "
        f"{join(using, membership, 'm', 'queue', 'q')} "
        f"{join(using, membership, 'm', 'agent', 'a')} "
        f"WHERE q.{col(Queue, 'queue_id')} = %s AND q.{col(Queue, 'is_active')} = %s "
        f"AND a.{col(Agent, 'agent_id')} = %s AND a.{col(Agent, 'is_active')} = %s"
    )


# The usual case of every new call, in one statement written once per database: an active
# agent that is a member of an active queue (queue_id and agent_id are unique: one row).
_ACTIVE_MEMBERSHIP = Statement(_membership_statement, parts=_MEMBERSHIP_PARTS)


def _queue_and_agent(
    queue_id: str, agent_id: str, errors: dict[str, list[str]]
) -> tuple[Queue | None, Agent | None]:
    if queue_id and agent_id:
        member = _ACTIVE_MEMBERSHIP.fetch_one(
            [str(queue_id), True, str(agent_id), True], using=router.db_for_read(Agent)
        )
        if member is not None:
            member_queue, member_agent = member
            assert isinstance(member_queue, Queue) and isinstance(member_agent, Agent)
            return member_queue, member_agent
    # Something is wrong: find out what, to say it per field.
    queue = Queue.objects.filter(queue_id=str(queue_id)).first() if queue_id else None
    agent = Agent.objects.filter(agent_id=str(agent_id)).first() if agent_id else None
    for field, value, found, kind, missing in (
        ("queue_id", queue_id, queue, "Queue", "A queue_id is required."),
        ("agent_id", agent_id, agent, "Agent", "An agent_id is required."),
    ):
        if not value:
            errors[field] = [missing]
        elif found is None:
            errors[field] = [f"Unknown {field} {value!r}."]
        elif not found.is_active:
            errors[field] = [f"{kind} {value!r} is inactive."]
    if (
        queue is not None
        and agent is not None
        and "queue_id" not in errors
        and "agent_id" not in errors
        and not agent.queues.filter(pk=queue.pk).exists()
    ):
        errors["agent_id"] = [f"Agent {agent_id!r} is not a member of queue {queue_id!r}."]
    return queue, agent
