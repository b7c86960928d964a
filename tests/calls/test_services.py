"""Creating, validating, cancelling and retrying call attempts (the call domain)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.exceptions import (
    IdempotencyConflictError,
    InvalidTransitionError,
    UnconfirmedRetryError,
)
from clicktoagent.models import CallAttempt
from clicktoagent.services import (
    call_attempt_cancel,
    call_attempt_create,
    call_attempt_dispatch,
    call_attempt_get_or_create,
    call_attempt_retry,
    call_attempt_retry_get_or_create,
)
from config.demo.models import Contact
from tests.conftest import CALL, create_call

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallAttempt.Status


def test_defaults_for_record_and_warning_come_from_settings(
    sandbox: SandboxServer, demo_data, settings
) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "DEFAULT_RECORD": 1, "DEFAULT_WARNING": 0}
    attempt = create_call()
    assert (attempt.record, attempt.warning) == (1, 0)
    assert sandbox.requests()[0]["params"]["warning"] == "0"


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"queue_id": "99999"}, "queue_id", "Unknown queue_id '99999'"),
        ({"agent_id": "11111"}, "agent_id", "Unknown agent_id '11111'"),
        ({"agent_id": "98767"}, "agent_id", "not a member of queue '12345'"),
        ({"phone_to_call": "5551112222"}, "phone_to_call", "'5551112222'"),
        ({"first_callerid": "12"}, "first_callerid", "'12'"),
        ({"warning": 4}, "warning", "got 4"),
        ({"record": 2}, "record", "got 2"),
        ({"queue_id": ""}, "queue_id", "required"),
    ],
)
def test_invalid_input_is_refused_and_nothing_is_stored_or_sent(
    sandbox: SandboxServer, demo_data, overrides: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(ValidationError) as info:
        create_call(**overrides)
    assert fragment in " ".join(info.value.message_dict[field])
    assert CallAttempt.objects.count() == 0
    assert sandbox.requests() == []


def test_inactive_queue_and_agent_are_refused(sandbox: SandboxServer, demo_data) -> None:
    demo_data["sales"].is_active = False
    demo_data["sales"].save()
    demo_data["dana"].is_active = False
    demo_data["dana"].save()
    with pytest.raises(ValidationError) as info:
        create_call()
    assert "inactive" in info.value.message_dict["queue_id"][0]
    assert "inactive" in info.value.message_dict["agent_id"][0]
    assert CallAttempt.objects.count() == 0


def test_idempotency_key_returns_the_first_attempt(sandbox: SandboxServer, demo_data) -> None:
    first, created = call_attempt_get_or_create(**CALL, source="api", idempotency_key="k-1")
    again, created_again = call_attempt_get_or_create(
        **{**CALL, "phone_to_call": "312.555.0123"}, source="api", idempotency_key="k-1"
    )
    assert created and not created_again
    assert again.pk == first.pk
    assert CallAttempt.objects.count() == 1
    assert len(sandbox.requests()) == 1


def test_idempotency_key_with_a_different_request_conflicts(
    sandbox: SandboxServer, demo_data
) -> None:
    call_attempt_create(**CALL, source="api", idempotency_key="k-2")
    with pytest.raises(IdempotencyConflictError, match="different request"):
        call_attempt_create(
            **{**CALL, "phone_to_call": "3125550124"}, source="api", idempotency_key="k-2"
        )
    assert CallAttempt.objects.count() == 1


def test_cancel_a_pending_attempt(sandbox: SandboxServer, demo_data) -> None:
    attempt = call_attempt_create(**CALL, source="api", dispatch=False)
    cancelled = call_attempt_cancel(attempt=attempt)
    assert cancelled.status == Status.CANCELLED
    assert cancelled.finished_at is not None
    assert call_attempt_dispatch(attempt_id=attempt.pk).status == Status.CANCELLED
    assert sandbox.requests() == []


def test_cancel_refused_once_placed(sandbox: SandboxServer, demo_data) -> None:
    attempt = create_call()
    with pytest.raises(InvalidTransitionError, match="is placed"):
        call_attempt_cancel(attempt=attempt)


def test_retry_makes_a_linked_attempt_once(sandbox: SandboxServer, demo_data) -> None:
    sandbox.add_fault("drop")
    unknown = create_call()
    assert unknown.status == Status.UNKNOWN
    retry = call_attempt_retry(attempt=unknown, source="admin", confirm_unknown=True)
    retry.refresh_from_db()
    assert retry.retry_of_id == unknown.pk
    assert retry.status == Status.PLACED
    assert retry.phone_to_call == unknown.phone_to_call
    # A second retry of the same attempt (a double click) dials nobody again.
    assert call_attempt_retry(attempt=unknown, source="admin").pk == retry.pk
    assert len(sandbox.requests()) == 2


def test_retry_after_the_contact_was_deleted_returns_the_same_retry(
    sandbox: SandboxServer, demo_data
) -> None:
    contact = Contact.objects.create(name="Gone soon", phone="3125550124")
    sandbox.add_fault("drop")
    unknown = create_call(contact=contact, phone_to_call="3125550124")
    retry = call_attempt_retry(attempt=unknown, source="admin", confirm_unknown=True)
    contact.delete()
    unknown.refresh_from_db()
    again, created = call_attempt_retry_get_or_create(attempt=unknown, source="api")
    assert (again.pk, created) == (retry.pk, False)
    assert len(sandbox.requests()) == 2


def test_retry_of_an_unknown_attempt_needs_confirmation(sandbox: SandboxServer, demo_data) -> None:
    sandbox.add_fault("drop")
    unknown = create_call()
    with pytest.raises(UnconfirmedRetryError, match="may already have been called"):
        call_attempt_retry(attempt=unknown, source="api")
    assert not CallAttempt.objects.filter(retry_of=unknown).exists()
    assert len(sandbox.requests()) == 1


def test_retry_refused_for_a_placed_attempt(sandbox: SandboxServer, demo_data) -> None:
    with pytest.raises(InvalidTransitionError, match="only failed or unknown"):
        call_attempt_retry(attempt=create_call(), source="admin")
