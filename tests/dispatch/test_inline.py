"""Attempts stored already claimed, sent by the process that stored them (the immediate
task backend)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from clicktoagent.calls.services import call_attempt_create
from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.dispatch.reconcile import call_attempt_reconcile
from clicktoagent.models import CallAttempt

pytestmark = pytest.mark.django_db(transaction=True)
Status = CallAttempt.Status


def _create() -> CallAttempt:
    return call_attempt_create(
        queue_id="12345", agent_id="98765", phone_to_call="3125550123", source="api"
    )


def test_stored_claimed_and_sent_after_the_commit(sandbox: SandboxServer, demo_data) -> None:
    with transaction.atomic():
        attempt = _create()
        # Stored claimed, and nothing sent before the commit.
        assert CallAttempt.objects.get(pk=attempt.pk).status == Status.DISPATCHING
        assert attempt.tries == 1
        assert sandbox.requests() == []
    assert attempt.status == Status.PLACED
    assert len(sandbox.requests()) == 1


def test_a_long_host_transaction_does_not_make_the_call_fail(
    sandbox: SandboxServer, demo_data
) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock, transaction.atomic():
        attempt = _create()
        claimed_at = attempt.dispatched_at
        # The host's transaction goes on for longer than RECONCILE_DISPATCHING_MARGIN.
        clock.shift(timedelta(seconds=120))
    attempt.refresh_from_db()
    assert attempt.status == Status.PLACED, attempt.error
    assert claimed_at is not None and attempt.dispatched_at > claimed_at
    assert len(sandbox.requests()) == 1


def test_a_claim_the_reconciler_gave_up_is_never_sent(sandbox: SandboxServer, demo_data) -> None:
    created: list[CallAttempt] = []

    def reconcile_first() -> None:
        # Runs right after the commit, before this process sends the attempt: a
        # reconciler elsewhere has given it up as lost meanwhile.
        assert call_attempt_reconcile(pending_after=3600).marked_unknown == [created[0].pk]

    with time_machine.travel(timezone.now(), tick=False) as clock, transaction.atomic():
        transaction.on_commit(reconcile_first)  # registered first, runs first
        created.append(_create())
        clock.shift(timedelta(seconds=600))
    attempt = CallAttempt.objects.get(pk=created[0].pk)
    assert attempt.status == Status.UNKNOWN
    assert sandbox.requests() == []
