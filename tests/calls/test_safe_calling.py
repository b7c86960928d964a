"""The safe-calling rules when an attempt is created: sent, scheduled or blocked, and
nothing reaches DialogTech unless every rule allows it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError

from clicktoagent.calls.services import call_attempt_create, call_attempt_retry
from clicktoagent.dispatch.reconcile import call_attempt_reconcile
from clicktoagent.exceptions import OverrideNotPermittedError
from clicktoagent.models import CallAttempt, DoNotCallEntry, Queue
from tests.conftest import run_together

pytestmark = [pytest.mark.safe_calling, pytest.mark.django_db(transaction=True)]

CHICAGO = ZoneInfo("America/Chicago")
NEW_YORK = ZoneInfo("America/New_York")
Status = CallAttempt.Status
CHICAGO_NUMBER = "3125550123"  # Illinois: all-party consent, federal hours
MIAMI_NUMBER = "3055550123"  # Florida: 8:00-20:00, three a day


def chicago(hour: int, minute: int = 0, day: int = 2) -> datetime:
    """A Wednesday (2026-12-02) in Chicago."""
    return datetime(2026, 12, day, hour, minute, tzinfo=CHICAGO)


def create(phone: str = CHICAGO_NUMBER, **kwargs: Any) -> CallAttempt:
    attempt = call_attempt_create(
        queue_id="12345",
        agent_id="98765",
        phone_to_call=phone,
        source=CallAttempt.Source.API,
        **kwargs,
    )
    attempt.refresh_from_db()
    return attempt


def dialled(sandbox: Any) -> list[str]:
    return [entry["params"].get("phone_to_call", "") for entry in sandbox.requests()]


def test_a_call_inside_calling_hours_is_placed(sandbox, demo_data) -> None:
    with time_machine.travel(chicago(10), tick=False):
        attempt = create()
    assert attempt.status == Status.PLACED
    assert attempt.violations == []
    assert dialled(sandbox) == [CHICAGO_NUMBER]


def test_a_call_before_8_local_waits_until_8_and_goes_out_then(sandbox, demo_data) -> None:
    with time_machine.travel(chicago(6, 30), tick=False):
        attempt = create()
    assert attempt.status == Status.PENDING
    assert attempt.next_try_at == chicago(8)
    assert [v["rule"] for v in attempt.violations] == ["calling_hours"]
    message = attempt.violations[0]["message"]
    assert "6:30" in message and "8:00" in message and "America/Chicago" in message
    assert dialled(sandbox) == []

    # Nothing happens while it is not due; at 8:00 the reconciler sends it.
    with time_machine.travel(chicago(7, 59), tick=False):
        assert call_attempt_reconcile(pending_after=0).requeued == []
    with time_machine.travel(chicago(8, 0, 30), tick=False):
        assert call_attempt_reconcile(pending_after=0).requeued == [attempt.pk]
    attempt.refresh_from_db()
    assert attempt.status == Status.PLACED
    assert dialled(sandbox) == [CHICAGO_NUMBER]


def test_outside_hours_block_ends_the_attempt_blocked(sandbox, demo_data) -> None:
    with time_machine.travel(chicago(21, 5), tick=False):
        attempt = create(outside_hours="block")
    assert attempt.status == Status.BLOCKED
    assert attempt.finished_at is not None
    assert [v["rule"] for v in attempt.violations] == ["calling_hours"]
    next_allowed = datetime.fromisoformat(attempt.violations[0]["next_allowed_at"])
    assert next_allowed == chicago(8, day=3)
    assert "21:05" in attempt.error
    assert dialled(sandbox) == []


def test_every_rule_broken_is_listed_not_only_the_first(sandbox, demo_data) -> None:
    DoNotCallEntry.objects.create(phone_number=f"+1{MIAMI_NUMBER}", reason="asked")
    with time_machine.travel(datetime(2026, 12, 2, 6, 0, tzinfo=NEW_YORK), tick=False):
        attempt = create(MIAMI_NUMBER)
    assert attempt.status == Status.BLOCKED  # do_not_call: time does not fix it
    assert {v["rule"] for v in attempt.violations} == {"calling_hours", "do_not_call"}
    assert dialled(sandbox) == []


def test_do_not_call_cannot_be_overridden(sandbox, demo_data) -> None:
    DoNotCallEntry.objects.create(phone_number=f"+1{CHICAGO_NUMBER}", reason="asked")
    boss = _user_with_override()
    with time_machine.travel(chicago(10), tick=False):
        attempt = create(override_reason="The customer asked us to call", requested_by=boss)
    assert attempt.status == Status.BLOCKED
    assert [v["rule"] for v in attempt.violations] == ["do_not_call"]
    assert attempt.overridden_rules == []
    assert dialled(sandbox) == []


def test_an_override_skips_calling_hours_and_records_who_and_why(sandbox, demo_data) -> None:
    boss = _user_with_override()
    with time_machine.travel(chicago(22), tick=False):
        attempt = create(override_reason="Customer asked for a late call", requested_by=boss)
    assert attempt.status == Status.PLACED
    assert attempt.overridden_rules == ["calling_hours"]
    assert attempt.override_reason == "Customer asked for a late call"
    assert attempt.overridden_by == boss
    assert attempt.violations == []
    assert dialled(sandbox) == [CHICAGO_NUMBER]


def test_an_override_without_the_permission_is_refused_and_stores_nothing(
    sandbox, demo_data
) -> None:
    clerk = User.objects.create_user("clerk")
    with time_machine.travel(chicago(22), tick=False), pytest.raises(OverrideNotPermittedError):
        create(override_reason="please", requested_by=clerk)
    with pytest.raises(ValidationError) as err:
        create(override_reason="   ", requested_by=_user_with_override())
    assert "override_reason" in err.value.message_dict
    assert not CallAttempt.objects.exists()
    assert dialled(sandbox) == []


def test_recording_consent_raises_the_warning_and_records_it(sandbox, demo_data) -> None:
    with time_machine.travel(chicago(10), tick=False):
        attempt = create(record=1, warning=0)
    assert attempt.status == Status.PLACED
    assert attempt.warning == 1
    assert attempt.adjustments == {"warning": 1}
    assert sandbox.requests()[0]["params"]["warning"] == "1"


def test_recording_consent_block_refuses_the_call(sandbox, demo_data, settings) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "RECORDING_CONSENT": "block"}
    with time_machine.travel(chicago(10), tick=False):
        attempt = create(record=1, warning=2)
    assert attempt.status == Status.BLOCKED
    assert [v["rule"] for v in attempt.violations] == ["recording_consent"]
    assert dialled(sandbox) == []


def test_queue_hours_hold_the_call_until_the_queue_opens(sandbox, demo_data) -> None:
    Queue.objects.filter(queue_id="12345").update(
        timezone="America/Chicago", opening_hours=["mon-fri 12:00-17:00"]
    )
    with time_machine.travel(chicago(10), tick=False):
        attempt = create()
    assert attempt.status == Status.PENDING
    assert attempt.next_try_at == chicago(12)
    assert [v["rule"] for v in attempt.violations] == ["queue_hours"]
    assert dialled(sandbox) == []


def test_the_florida_cap_schedules_the_fourth_call_of_the_day(sandbox, demo_data) -> None:
    first = datetime(2026, 12, 2, 9, 0, tzinfo=NEW_YORK)
    for minutes in (0, 10, 20):
        with time_machine.travel(first + timedelta(minutes=minutes), tick=False):
            assert create(MIAMI_NUMBER).status == Status.PLACED
    with time_machine.travel(first + timedelta(hours=1), tick=False):
        fourth = create(MIAMI_NUMBER)
    assert fourth.status == Status.PENDING
    assert [v["rule"] for v in fourth.violations] == ["daily_cap"]
    # The first call leaves the rolling 24 hours at 9:00 the next day (inside hours).
    assert fourth.next_try_at == first + timedelta(hours=24)
    assert len(dialled(sandbox)) == 3


def test_a_retry_is_checked_like_a_new_call(sandbox, demo_data) -> None:
    with time_machine.travel(chicago(10), tick=False):
        first = create(CHICAGO_NUMBER, contact_region="FL")
    CallAttempt.objects.filter(pk=first.pk).update(status=Status.FAILED)
    first.refresh_from_db()
    # 20:30 in Chicago: inside the federal window (to 21:00), outside Florida's (to
    # 20:00), which applies because the contact lives in Florida.
    with time_machine.travel(chicago(20, 30), tick=False):
        retry = call_attempt_retry(attempt=first, source=CallAttempt.Source.API)
    retry.refresh_from_db()
    assert retry.contact_region == "US-FL"
    assert retry.status == Status.PENDING
    assert [v["rule"] for v in retry.violations] == ["calling_hours"]
    assert retry.next_try_at == chicago(8, day=3)
    assert dialled(sandbox) == [CHICAGO_NUMBER]


def test_a_bad_contact_region_is_a_clear_error_and_stores_nothing(sandbox, demo_data) -> None:
    with pytest.raises(ValidationError) as err:
        create(contact_region="Atlantis")
    assert "contact_region" in err.value.message_dict
    assert not CallAttempt.objects.exists()


def test_with_no_rules_nothing_is_checked(sandbox, demo_data, settings) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "SAFE_CALLING_RULES": ()}
    DoNotCallEntry.objects.create(phone_number=f"+1{CHICAGO_NUMBER}")
    with time_machine.travel(chicago(3), tick=False):
        attempt = create()
    assert attempt.status == Status.PLACED


@pytest.mark.postgres
def test_the_cap_holds_under_concurrent_requests(sandbox, demo_data) -> None:
    """Eight requests for one Florida number at once: exactly three may ring."""
    with time_machine.travel(datetime(2026, 12, 2, 10, 0, tzinfo=NEW_YORK), tick=True):
        results = run_together(8, lambda: create(MIAMI_NUMBER, outside_hours="block"))
    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = sorted(r.status for r in results)
    assert statuses.count(Status.PLACED) == 3
    assert statuses.count(Status.BLOCKED) == 5
    assert len(dialled(sandbox)) == 3


def _user_with_override() -> User:
    user = User.objects.create_user("supervisor")
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="clicktoagent", codename="override_guardrails"
        )
    )
    return User.objects.get(pk=user.pk)
