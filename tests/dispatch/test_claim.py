"""Claiming and reading an attempt in one statement (PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clicktoagent.dispatch.claim import call_attempt_claim_and_read
from clicktoagent.models import CallAttempt, Queue
from tests.conftest import create_call

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

Status = CallAttempt.Status


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


def test_an_attempt_that_is_not_pending_is_left_as_it_is(demo_data: Any) -> None:
    attempt = create_call(dispatch=False)
    CallAttempt.objects.filter(pk=attempt.pk).update(status=Status.CANCELLED)
    assert call_attempt_claim_and_read(attempt.pk, now=timezone.now()) is None
    assert call_attempt_claim_and_read(987654321, now=timezone.now()) is None
    attempt.refresh_from_db()
    assert attempt.status == Status.CANCELLED and attempt.tries == 0
    assert attempt.dispatched_at is None
