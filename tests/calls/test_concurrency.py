"""At most once under concurrency, on PostgreSQL (real row locks and unique indexes)."""

from __future__ import annotations

import pytest

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt
from clicktoagent.services import call_attempt_dispatch, call_attempt_get_or_create
from tests.conftest import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CALL = {"queue_id": "12345", "agent_id": "98765", "phone_to_call": "3125550123"}


def test_concurrent_dispatch_claims_once(sandbox: SandboxServer, demo_data) -> None:
    sandbox.add_fault("latency", seconds=0.3)
    attempt, _ = call_attempt_get_or_create(**CALL, source="api", dispatch=False)
    results = run_together(10, lambda: call_attempt_dispatch(attempt_id=attempt.pk))
    assert all(isinstance(r, CallAttempt) for r in results), results
    attempt.refresh_from_db()
    assert attempt.status == CallAttempt.Status.PLACED
    assert attempt.tries == 1
    assert len(sandbox.requests()) == 1


def test_concurrent_creation_with_one_key_makes_one_call(sandbox: SandboxServer, demo_data) -> None:
    results = run_together(
        12,
        lambda: call_attempt_get_or_create(**CALL, source="api", idempotency_key="same-key"),
    )
    assert all(isinstance(r, tuple) for r in results), results
    assert sum(created for _, created in results) == 1
    assert len({attempt.pk for attempt, _ in results}) == 1
    assert CallAttempt.objects.count() == 1
    assert len(sandbox.requests()) == 1
