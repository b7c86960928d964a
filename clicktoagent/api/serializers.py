"""Input and output shapes of the REST API."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model
from rest_framework import serializers

from ..models import Agent, CallAttempt, DoNotCallEntry, Queue
from ..phone import normalize_phone
from ..policy.result import RULES

ID_MAX_LENGTH = 64

_M = TypeVar("_M", bound=Model)


class OutputSerializer(serializers.ModelSerializer[_M]):
    """A model as the API shows it: an answer, never an input, so every field of
    ``Meta.fields`` is read-only (what ``read_only_fields`` listing them all would do)."""

    def get_extra_kwargs(self) -> dict[str, Any]:
        extra: dict[str, Any] = super().get_extra_kwargs()
        for name in self.Meta.fields:
            extra.setdefault(name, {})["read_only"] = True
        return extra


PHONE_MAX_LENGTH = 64


def _choice_message(name: str, choices: Any) -> str:
    allowed = ", ".join(f"{value} ({label})" for value, label in choices)
    return f'{name} must be one of {allowed}; got "{{input}}".'


def _optional_text(max_length: int, **kwargs: Any) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, required=False, allow_blank=True, **kwargs)


def _phone_to_call_field() -> serializers.CharField:
    return serializers.CharField(
        max_length=PHONE_MAX_LENGTH, help_text="The contact's number, as people type it."
    )


def _override_reason_field() -> serializers.CharField:
    return serializers.CharField(
        max_length=500,
        required=False,
        help_text="Skip calling hours, queue hours and the daily cap for the new attempt, "
        "saying why. Needs the clicktoagent.override_guardrails permission (else 403).",
    )


class CallAttemptCreateSerializer(serializers.Serializer[Any]):
    """What a client sends to place a call. Numbers are checked and normalised by the service."""

    queue_id = serializers.CharField(
        max_length=ID_MAX_LENGTH, help_text="DialogTech queue (building block) ID."
    )
    agent_id = serializers.CharField(max_length=ID_MAX_LENGTH, help_text="DialogTech agent ID.")
    phone_to_call = _phone_to_call_field()
    first_callerid = _optional_text(
        PHONE_MAX_LENGTH,
        help_text="Caller ID shown to the agent (a registered or tracking number).",
    )
    second_callerid = _optional_text(
        PHONE_MAX_LENGTH,
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
    contact_ref = _optional_text(
        255,
        help_text="Your reference for the contact, e.g. hubspot:contact:501.",
    )
    contact_region = _optional_text(
        64,
        help_text="The contact's state or province (FL, ON): its calling hours, daily cap "
        "and recording consent apply too, when stricter than the number's own.",
    )
    outside_hours = serializers.ChoiceField(
        choices=CallAttempt.OutsideHours.choices,
        required=False,
        error_messages={
            "invalid_choice": _choice_message("outside_hours", CallAttempt.OutsideHours.choices)
        },
        help_text="When calling hours, queue hours or the daily cap forbid the call now: "
        "`schedule` keeps it pending until the next allowed moment, `block` ends it "
        "`blocked`. Default: CLICKTOAGENT['OUTSIDE_HOURS'].",
    )
    override_reason = _override_reason_field()


class ViolationSerializer(serializers.Serializer[Any]):
    """A safe-calling rule a call breaks."""

    rule = serializers.ChoiceField(choices=[(code, code) for code in RULES])
    message = serializers.CharField(help_text="For people: what is wrong, and when it is not.")
    next_allowed_at = serializers.DateTimeField(
        allow_null=True, help_text="When this rule allows the call; null: time does not help."
    )


class CallAttemptSerializer(OutputSerializer[CallAttempt]):
    """An attempt as the API shows it."""

    queue_id = serializers.CharField(source="queue.queue_id", read_only=True)
    agent_id = serializers.CharField(source="agent.agent_id", read_only=True)
    retry_of = serializers.IntegerField(
        source="retry_of_id",
        read_only=True,
        allow_null=True,
        help_text="The attempt this one retries.",
    )
    violations = ViolationSerializer(
        many=True,
        read_only=True,
        help_text="Every safe-calling rule the call broke when it was held back or blocked.",
    )
    adjustments = serializers.DictField(
        child=serializers.IntegerField(),
        read_only=True,
        help_text='What the rules changed before sending, e.g. {"warning": 1}.',
    )
    overridden_rules = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Rules skipped by a permitted user's override_reason.",
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
            "contact_region",
            "outside_hours",
            "violations",
            "adjustments",
            "overridden_rules",
            "override_reason",
            "next_try_at",
            "created_at",
            "dispatched_at",
            "finished_at",
        ]


class CallAttemptRetrySerializer(serializers.Serializer[Any]):
    """The optional body of a retry."""

    confirm_unknown = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Needed (true) to retry an `unknown` attempt: its request may have "
        "reached DialogTech, so the contact may already have been called.",
    )
    override_reason = _override_reason_field()


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


class AgentSerializer(OutputSerializer[Agent]):
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


class AgentInputSerializer(serializers.Serializer[Any]):
    """What a client sends to create or change an agent."""

    agent_id = serializers.CharField(max_length=ID_MAX_LENGTH, help_text="DialogTech agent ID.")
    name = _optional_text(200)
    phone = _optional_text(32, help_text="The agent's own number.")
    is_active = serializers.BooleanField(required=False)
    queue_ids = serializers.ListField(
        child=serializers.CharField(max_length=ID_MAX_LENGTH),
        required=False,
        max_length=1000,
        help_text="The queue_id of every queue the agent belongs to (replaces the list).",
    )


class QueueSerializer(OutputSerializer[Queue]):
    """A queue as the API shows it."""

    class Meta:
        model = Queue
        fields = [
            "queue_id",
            "name",
            "is_active",
            "timezone",
            "opening_hours",
            "closed_dates",
            "created_at",
            "updated_at",
        ]


class QueueInputSerializer(serializers.Serializer[Any]):
    """What a client sends to create or change a queue."""

    queue_id = serializers.CharField(
        max_length=ID_MAX_LENGTH, help_text="DialogTech queue (building block) ID."
    )
    name = _optional_text(200)
    is_active = serializers.BooleanField(required=False)
    timezone = _optional_text(
        64,
        help_text="IANA time zone of the opening hours (empty: the site's TIME_ZONE).",
    )
    opening_hours = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=100,
        help_text='Weekly ranges, e.g. ["mon-fri 09:00-17:30"]; empty: always open.',
    )
    closed_dates = serializers.ListField(
        child=serializers.CharField(max_length=10),
        required=False,
        max_length=1000,
        help_text='Whole days closed, e.g. ["2026-12-25"].',
    )


class DoNotCallEntrySerializer(OutputSerializer[DoNotCallEntry]):
    """A do-not-call entry as the API shows it."""

    added_by = serializers.SerializerMethodField(
        help_text="The username of who added it; null for an import without a user, or "
        "when that user was deleted."
    )

    class Meta:
        model = DoNotCallEntry
        fields = ["id", "phone_number", "reason", "source", "added_by", "added_at"]

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
    reason = _optional_text(500, default="", help_text="Why.")


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


class CallCheckInputSerializer(serializers.Serializer[Any]):
    """A call to check against the safe-calling rules, without placing it."""

    phone_to_call = _phone_to_call_field()
    queue_id = _optional_text(
        ID_MAX_LENGTH,
        help_text="The queue whose opening hours apply (none: no queue hours).",
    )
    agent_id = _optional_text(ID_MAX_LENGTH)
    record = serializers.ChoiceField(choices=CallAttempt.Record.choices, required=False)
    warning = serializers.ChoiceField(choices=CallAttempt.Warning.choices, required=False)
    contact_region = _optional_text(64)
    at = serializers.DateTimeField(
        required=False,
        help_text="The moment to check, ISO 8601 with its offset (default: now).",
    )

    def validate_at(self, value: Any) -> Any:
        raw = str(self.initial_data.get("at", ""))
        if not re.search(r"(Z|[+-]\d{2}:?\d{2})$", raw.strip(), re.IGNORECASE):
            raise serializers.ValidationError(
                "Give the time with its offset, e.g. 2026-11-27T15:30:00-05:00 or ...Z."
            )
        return value


class CallCheckSerializer(serializers.Serializer[Any]):
    """Whether a call would go out at that moment, and when it would if not."""

    allowed = serializers.BooleanField()
    violations = ViolationSerializer(many=True)
    adjustments = serializers.DictField(
        child=serializers.IntegerField(), help_text='e.g. {"warning": 1}.'
    )
    timezones = serializers.ListField(child=serializers.CharField())
    region = serializers.CharField(help_text="The state or province whose rules applied.")
    next_allowed_at = serializers.DateTimeField(
        allow_null=True, help_text="The first moment every rule allows it; null: never."
    )


# Built once: a ModelSerializer builds its fields (deep copies, model introspection) each
# time it is instantiated, which costs more than the rest of a short answer. Reading an
# attempt through its fields keeps no state, so one instance serves every request.
_ATTEMPT_OUTPUT = CallAttemptSerializer()


def call_attempt_data(attempt: CallAttempt) -> dict[str, Any]:
    """One attempt as the API shows it (the fields of :class:`CallAttemptSerializer`)."""
    return dict(_ATTEMPT_OUTPUT.to_representation(attempt))


def call_attempts_data(attempts: Any) -> list[dict[str, Any]]:
    return [call_attempt_data(attempt) for attempt in attempts]
