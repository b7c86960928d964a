"""Input and output shapes of the REST API."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from ..models import Agent, CallAttempt, DoNotCallEntry, Queue
from ..phone import normalize_phone

ID_MAX_LENGTH = 64
PHONE_MAX_LENGTH = 64


def _choice_message(name: str, choices: Any) -> str:
    allowed = ", ".join(f"{value} ({label})" for value, label in choices)
    return f'{name} must be one of {allowed}; got "{{input}}".'


class CallAttemptCreateSerializer(serializers.Serializer[Any]):
    """What a client sends to place a call. Numbers are checked and normalised by the service."""

    queue_id = serializers.CharField(
        max_length=ID_MAX_LENGTH, help_text="DialogTech queue (building block) ID."
    )
    agent_id = serializers.CharField(max_length=ID_MAX_LENGTH, help_text="DialogTech agent ID.")
    phone_to_call = serializers.CharField(
        max_length=PHONE_MAX_LENGTH, help_text="The contact's number, as people type it."
    )
    first_callerid = serializers.CharField(
        max_length=PHONE_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="Caller ID shown to the agent (a registered or tracking number).",
    )
    second_callerid = serializers.CharField(
        max_length=PHONE_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="Caller ID shown to the contact.",
    )
    record = serializers.ChoiceField(
        choices=CallAttempt.Record.choices,
        required=False,
        error_messages={"invalid_choice": _choice_message("record", CallAttempt.Record.choices)},
        help_text="1 records the call. Default: CLICKTOAGENT['DEFAULT_RECORD'].",
    )
    warning = serializers.ChoiceField(
        choices=CallAttempt.Warning.choices,
        required=False,
        error_messages={"invalid_choice": _choice_message("warning", CallAttempt.Warning.choices)},
        help_text="Recording warning. Default: CLICKTOAGENT['DEFAULT_WARNING'].",
    )
    contact_ref = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        help_text="Your reference for the contact, e.g. hubspot:contact:501.",
    )


class CallAttemptSerializer(serializers.ModelSerializer[CallAttempt]):
    """An attempt as the API shows it."""

    queue_id = serializers.CharField(source="queue.queue_id", read_only=True)
    agent_id = serializers.CharField(source="agent.agent_id", read_only=True)
    retry_of = serializers.IntegerField(
        source="retry_of_id",
        read_only=True,
        allow_null=True,
        help_text="The attempt this one retries.",
    )

    class Meta:
        model = CallAttempt
        fields = [
            "id",
            "status",
            "queue_id",
            "agent_id",
            "phone_to_call",
            "first_callerid",
            "second_callerid",
            "record",
            "warning",
            "sid",
            "result",
            "result_description",
            "error",
            "contact_ref",
            "source",
            "tries",
            "retry_of",
            "created_at",
            "dispatched_at",
            "finished_at",
        ]
        read_only_fields = fields


class CallAttemptRetrySerializer(serializers.Serializer[Any]):
    """The optional body of a retry."""

    confirm_unknown = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Needed (true) to retry an `unknown` attempt: its request may have "
        "reached DialogTech, so the contact may already have been called.",
    )


class CallAttemptFilterSerializer(serializers.Serializer[Any]):
    """Query parameters of the attempt list; all optional and combined with AND."""

    status = serializers.ChoiceField(choices=CallAttempt.Status.choices, required=False)
    agent_id = serializers.CharField(max_length=ID_MAX_LENGTH, required=False)
    queue_id = serializers.CharField(max_length=ID_MAX_LENGTH, required=False)
    phone_to_call = serializers.CharField(
        max_length=PHONE_MAX_LENGTH,
        required=False,
        help_text="Matched after normalising, so (312) 555-0123 finds 3125550123.",
    )
    contact_ref = serializers.CharField(max_length=255, required=False)
    source = serializers.ChoiceField(  # type: ignore[assignment]  # a field named "source"
        choices=CallAttempt.Source.choices, required=False
    )
    created_after = serializers.DateTimeField(
        required=False, help_text="Created at or after this time (ISO 8601)."
    )
    created_before = serializers.DateTimeField(
        required=False, help_text="Created before this time (ISO 8601)."
    )

    def validate_phone_to_call(self, value: str) -> str:
        try:
            return normalize_phone(value)
        except DjangoValidationError as err:
            raise serializers.ValidationError(err.messages) from None


class AgentSerializer(serializers.ModelSerializer[Agent]):
    """An agent as the API shows it, with its queue memberships."""

    queue_ids: serializers.SlugRelatedField[Queue] = serializers.SlugRelatedField(
        source="queues",
        many=True,
        read_only=True,
        slug_field="queue_id",
        help_text="The queues the agent answers for.",
    )

    class Meta:
        model = Agent
        fields = ["agent_id", "name", "phone", "is_active", "queue_ids", "created_at", "updated_at"]
        read_only_fields = fields


class AgentInputSerializer(serializers.Serializer[Any]):
    """What a client sends to create or change an agent."""

    agent_id = serializers.CharField(max_length=ID_MAX_LENGTH, help_text="DialogTech agent ID.")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(
        max_length=32, required=False, allow_blank=True, help_text="The agent's own number."
    )
    is_active = serializers.BooleanField(required=False)
    queue_ids = serializers.ListField(
        child=serializers.CharField(max_length=ID_MAX_LENGTH),
        required=False,
        max_length=1000,
        help_text="The queue_id of every queue the agent belongs to (replaces the list).",
    )


class QueueSerializer(serializers.ModelSerializer[Queue]):
    """A queue as the API shows it."""

    class Meta:
        model = Queue
        fields = ["queue_id", "name", "is_active", "created_at", "updated_at"]
        read_only_fields = fields


class QueueInputSerializer(serializers.Serializer[Any]):
    """What a client sends to create or change a queue."""

    queue_id = serializers.CharField(
        max_length=ID_MAX_LENGTH, help_text="DialogTech queue (building block) ID."
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class DoNotCallEntrySerializer(serializers.ModelSerializer[DoNotCallEntry]):
    """A do-not-call entry as the API shows it."""

    added_by = serializers.SerializerMethodField(
        help_text="The username of who added it; null for an import without a user, or "
        "when that user was deleted."
    )

    class Meta:
        model = DoNotCallEntry
        fields = ["id", "phone_number", "reason", "source", "added_by", "added_at"]
        read_only_fields = fields

    def get_added_by(self, entry: DoNotCallEntry) -> str | None:
        user = entry.added_by
        return None if user is None else str(user.get_username())


class DoNotCallEntryInputSerializer(serializers.Serializer[Any]):
    """What a client sends to list a number. The number is checked and stored in E.164."""

    phone_number = serializers.CharField(
        max_length=PHONE_MAX_LENGTH,
        help_text="The number, as people type it, e.g. (312) 555-0123; any valid number of "
        "CLICKTOAGENT['PHONE_REGIONS'], whatever its type.",
    )
    reason = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default="", help_text="Why."
    )


class ErrorSerializer(serializers.Serializer[Any]):
    """Every error other than invalid input."""

    detail = serializers.CharField()


IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 200
IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7e]{1,200}$"
_IDEMPOTENCY_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)


def parse_idempotency_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header's value, checked; None when it was not sent."""
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY_RE.fullmatch(value):
        raise serializers.ValidationError(
            {
                IDEMPOTENCY_HEADER: [
                    f"Must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters "
                    f"(got {len(value)} characters)."
                ]
            }
        )
    return value
