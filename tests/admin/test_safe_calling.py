"""The admin's call form under the safe-calling rules: the check per contact before anyone
presses Call, then scheduled or blocked calls, and overrides for permitted users."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt, DoNotCallEntry
from config.demo.models import Contact

from .conftest import form_fields
from .test_mixin import CALL_URL, run_action, submit

pytestmark = [pytest.mark.safe_calling, pytest.mark.django_db(transaction=True)]

Status = CallAttempt.Status
LATE = datetime(2026, 12, 2, 22, 0, tzinfo=ZoneInfo("America/Chicago"))


def test_the_form_shows_each_contacts_check_before_calling(
    caller_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    DoNotCallEntry.objects.create(phone_number="+13125550124", reason="asked")
    with time_machine.travel(LATE, tick=True):
        html = run_action(caller_client, contacts["ada"], contacts["grace"]).content.decode()
    assert "held back until" in html  # Ada: only calling hours, time fixes it
    assert "blocked:" in html and "do-not-call" in html  # Grace
    assert CallAttempt.objects.count() == 0
    assert sandbox.requests() == []


def test_a_late_submission_schedules_the_calls(
    caller_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    with time_machine.travel(LATE, tick=True):
        page = run_action(caller_client, contacts["ada"])
        html = submit(
            caller_client, form_fields(page.content.decode()), outside_hours="schedule"
        ).content.decode()
    attempt = CallAttempt.objects.get()
    assert attempt.status == Status.PENDING and attempt.next_try_at is not None
    assert "Scheduled for" in html
    assert sandbox.requests() == []


def test_the_contacts_state_applies_and_block_ends_blocked(
    caller_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    Contact.objects.filter(pk=contacts["ada"].pk).update(state="FL")
    evening = LATE.replace(hour=20, minute=30)  # federal hours allow it; Florida's do not
    with time_machine.travel(evening, tick=True):
        page = run_action(caller_client, contacts["ada"])
        html = submit(
            caller_client, form_fields(page.content.decode()), outside_hours="block"
        ).content.decode()
    attempt = CallAttempt.objects.get()
    assert attempt.status == Status.BLOCKED
    assert attempt.contact_region == "US-FL"
    assert "Blocked by the safe-calling rules" in html
    assert sandbox.requests() == []


def test_only_permitted_users_see_and_use_the_override(
    caller, caller_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    with time_machine.travel(LATE, tick=True):
        page = run_action(caller_client, contacts["ada"]).content.decode()
        assert 'name="override_reason"' not in page
        # A forged field from a user without the permission is ignored: scheduled.
        submit(
            caller_client,
            form_fields(page),
            outside_hours="schedule",
            override_reason="forged",
        )
        assert CallAttempt.objects.get().status == Status.PENDING

        caller.user_permissions.add(Permission.objects.get(codename="override_guardrails"))
        page = run_action(caller_client, contacts["ada"]).content.decode()
        assert 'name="override_reason"' in page
        submit(
            caller_client,
            form_fields(page),
            outside_hours="schedule",
            override_reason="Asked for a late call",
        )
    latest = CallAttempt.objects.order_by("-pk").first()
    assert latest is not None and latest.status == Status.PLACED
    assert latest.overridden_rules == ["calling_hours"]
    assert latest.overridden_by == caller
    assert len(sandbox.requests()) == 1


def test_the_forms_checks_cost_the_same_queries_for_1_and_25_contacts(
    caller_client: Client, demo_data
) -> None:
    noon = LATE.replace(hour=12)
    florida = [Contact.objects.create(name=f"F{i}", phone=f"30555501{i:02}") for i in range(25)]
    DoNotCallEntry.objects.create(phone_number="+13055550103", reason="asked")
    queue, agent = demo_data["sales"], demo_data["dana"]
    for _ in range(3):  # Florida allows 3 calls a day to one number: called this morning
        made = CallAttempt.objects.create(
            queue=queue, agent=agent, phone_to_call="3055550107", record=0, warning=1,
            source="api", status=Status.PLACED,
        )  # fmt: skip
        CallAttempt.objects.filter(pk=made.pk).update(created_at=noon - timedelta(hours=2))

    def form_queries(contacts: list[Contact]) -> tuple[int, str]:
        url = f"{CALL_URL}?ids={','.join(str(c.pk) for c in contacts)}"
        with time_machine.travel(noon, tick=True), CaptureQueriesContext(connection) as reads:
            html = caller_client.get(url).content.decode()
        return len(reads.captured_queries), html

    one, _ = form_queries(florida[:1])
    many, html = form_queries(florida)
    assert one == many
    assert html.count("clicktoagent-check") == 2  # the listed number and the capped one
    assert "+1 305-555-0103 is on the do-not-call list (reason: asked)" in html
    assert "3 calls to this number in the last 24 hours; Florida allows 3 a day" in html
