"""Reading and claiming an attempt with statements written once; claiming and reading
in one statement (PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clicktoagent.dispatch.claim import (
    call_attempt_claim,
    call_attempt_claim_and_read,
    call_attempt_read,
)
from clicktoagent.models import CallAttempt, Queue
from tests.conftest import create_call

pytestmark = pytest.mark.django_db

Status = CallAttempt.Status


@pytest.mark.postgres
def test_claims_a_pending_attempt_and_reads_it_as_the_orm_would(demo_data: Any) -> None:
    Queue.objects.filter(queue_id="12345").update(
        opening_hours={"mon": ["09:00-17:00"]}, timezone="America/Chicago"
    )
    attempt = create_call(dispatch=False)
    CallAttempt.objects.filter(pk=attempt.pk).update(violations=[{"rule": "calling_hours"}])
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        claimed = call_attempt_claim_and_read(attempt.pk, now=now)
        assert claimed is not None
        # Queue and agent came with it: no further query.
        assert claimed.queue.queue_id == "12345" and claimed.agent.agent_id == "98765"
    assert len(queries) == 1
    expected = CallAttempt.objects.select_related("queue", "agent").get(pk=attempt.pk)
    assert expected.status == Status.DISPATCHING and expected.tries == 1
    assert expected.dispatched_at == now
    for field in CallAttempt._meta.concrete_fields:
        assert getattr(claimed, field.attname) == getattr(expected, field.attname), field.name
    assert claimed.violations == [{"rule": "calling_hours"}]  # JSON, converted
    assert claimed.queue.opening_hours == {"mon": ["09:00-17:00"]}
    assert claimed.queue.timezone == "America/Chicago"
    assert claimed._state.adding is False


@pytest.mark.postgres
def test_an_attempt_that_is_not_pending_is_left_as_it_is(demo_data: Any) -> None:
    attempt = create_call(dispatch=False)
    CallAttempt.objects.filter(pk=attempt.pk).update(status=Status.CANCELLED)
    assert call_attempt_claim_and_read(attempt.pk, now=timezone.now()) is None
    assert call_attempt_claim_and_read(987654321, now=timezone.now()) is None
    attempt.refresh_from_db()
    assert attempt.status == Status.CANCELLED and attempt.tries == 0
    assert attempt.dispatched_at is None


def test_reads_an_attempt_with_its_queue_and_agent_in_one_statement(demo_data: Any) -> None:
    attempt = create_call(dispatch=False)
    CallAttempt.objects.filter(pk=attempt.pk).update(violations=[{"rule": "daily_cap"}])
    with CaptureQueriesContext(connection) as queries:
        read = call_attempt_read(attempt.pk)
        assert read.queue.queue_id == "12345" and read.agent.agent_id == "98765"
    assert len(queries) == 1
    expected = CallAttempt.objects.select_related("queue", "agent").get(pk=attempt.pk)
    for model_read, model_expected in (
        (read, expected),
        (read.queue, expected.queue),
        (read.agent, expected.agent),
    ):
        for field in type(model_expected)._meta.concrete_fields:
            assert getattr(model_read, field.attname) == getattr(model_expected, field.attname), (
                field.name
            )
    assert read.violations == [{"rule": "daily_cap"}]  # JSON, converted
    assert read._state.adding is False
    with pytest.raises(CallAttempt.DoesNotExist):
        call_attempt_read(987654321)


def test_claims_a_pending_attempt_once(demo_data: Any) -> None:
    attempt = create_call(dispatch=False)
    other = create_call(dispatch=False, phone_to_call="3125550124")
    now = timezone.now()
    assert call_attempt_claim(attempt.pk, now=now) is True
    assert call_attempt_claim(attempt.pk, now=timezone.now()) is False
    assert call_attempt_claim(987654321, now=now) is False
    attempt.refresh_from_db()
    assert attempt.status == Status.DISPATCHING and attempt.tries == 1
    assert attempt.dispatched_at == now and attempt.next_try_at is None
    # Stored as the ORM stores times (on SQLite, text compared as text by lookups).
    assert CallAttempt.objects.filter(pk=attempt.pk, dispatched_at=now).exists()
    assert CallAttempt.objects.filter(pk=attempt.pk, dispatched_at__lte=now).exists()
    other.refresh_from_db()
    assert other.status == Status.PENDING and other.tries == 0
