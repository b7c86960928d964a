"""The safe-calling rules again, right before sending: a call allowed when it was created
(20:55) is not dialled when its turn comes too late (21:05)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Permission, User

from clicktoagent.calls.services import call_attempt_create
from clicktoagent.dispatch.tasks import call_attempt_dispatch
from clicktoagent.models import CallAttempt, DoNotCallEntry

pytestmark = [pytest.mark.safe_calling, pytest.mark.django_db(transaction=True)]

CHICAGO = ZoneInfo("America/Chicago")
Status = CallAttempt.Status
NUMBER = "3125550123"


def chicago(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=CHICAGO)


def stored(**kwargs: Any) -> CallAttempt:
    """An attempt stored but not yet sent (its task has not run)."""
    return call_attempt_create(
        queue_id="12345",
        agent_id="98765",
        phone_to_call=NUMBER,
        source=CallAttempt.Source.COMMAND,
        dispatch=False,
        **kwargs,
    )


def test_created_at_2055_and_sent_at_2105_is_held_until_8(sandbox, demo_data) -> None:
    with time_machine.travel(chicago(20, 55), tick=False):
        attempt = stored()
    assert attempt.status == Status.PENDING and attempt.violations == []
    with time_machine.travel(chicago(21, 5), tick=False):
        attempt = call_attempt_dispatch(attempt_id=attempt.pk)
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING
    assert attempt.tries == 0  # never claimed
    assert attempt.next_try_at == chicago(8, day=3)
    assert [v["rule"] for v in attempt.violations] == ["calling_hours"]
    assert sandbox.requests() == []

    with time_machine.travel(chicago(8, 1, day=3), tick=False):
        attempt = call_attempt_dispatch(attempt_id=attempt.pk)
    assert attempt.status == Status.PLACED
    assert len(sandbox.requests()) == 1


def test_a_blocking_request_ends_blocked_when_sent_too_late(sandbox, demo_data) -> None:
    with time_machine.travel(chicago(20, 55), tick=False):
        attempt = stored(outside_hours="block")
    with time_machine.travel(chicago(21, 5), tick=False):
        attempt = call_attempt_dispatch(attempt_id=attempt.pk)
    attempt.refresh_from_db()
    assert attempt.status == Status.BLOCKED
    assert attempt.finished_at is not None
    assert [v["rule"] for v in attempt.violations] == ["calling_hours"]
    assert sandbox.requests() == []


def test_a_number_added_to_do_not_call_after_creation_is_never_dialled(sandbox, demo_data) -> None:
    with time_machine.travel(chicago(10), tick=False):
        attempt = stored()
        DoNotCallEntry.objects.create(phone_number=f"+1{NUMBER}", reason="asked just now")
        attempt = call_attempt_dispatch(attempt_id=attempt.pk)
    attempt.refresh_from_db()
    assert attempt.status == Status.BLOCKED
    assert [v["rule"] for v in attempt.violations] == ["do_not_call"]
    assert "asked just now" in attempt.error
    assert sandbox.requests() == []


def test_an_early_task_for_a_scheduled_attempt_sends_nothing(sandbox, demo_data) -> None:
    with time_machine.travel(chicago(6), tick=False):
        attempt = stored()
    attempt.refresh_from_db()
    assert attempt.next_try_at == chicago(8)
    with time_machine.travel(chicago(7, 30), tick=False):
        attempt = call_attempt_dispatch(attempt_id=attempt.pk)
    assert attempt.status == Status.PENDING
    assert attempt.next_try_at == chicago(8)
    assert sandbox.requests() == []


def test_an_override_holds_when_the_attempt_is_sent(sandbox, demo_data) -> None:
    boss = User.objects.create_user("boss")
    boss.user_permissions.add(Permission.objects.get(codename="override_guardrails"))
    boss = User.objects.get(pk=boss.pk)
    with time_machine.travel(chicago(22), tick=False):
        attempt = stored(override_reason="Asked for a call tonight", requested_by=boss)
        attempt = call_attempt_dispatch(attempt_id=attempt.pk)
    assert attempt.status == Status.PLACED
    assert attempt.overridden_rules == ["calling_hours"]
    assert len(sandbox.requests()) == 1
