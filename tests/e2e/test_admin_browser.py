"""End to end in a real browser: the admin call flow, the call button, retry, dashboard."""

from __future__ import annotations

import re
from typing import Any

import pytest

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt
from clicktoagent.services import call_attempt_create
from config.demo.models import Contact

from .conftest import login, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

Status = CallAttempt.Status


@pytest.fixture
def people(transactional_db: None) -> dict[str, Contact]:
    return {
        "ada": Contact.objects.create(name="Ada Lovelace", phone="(312) 555-0123"),
        "grace": Contact.objects.create(name="Grace Hopper", phone="312.555.0124"),
        "barbara": Contact.objects.create(name="Barbara Liskov", phone=""),
    }


def open_call_form(page: Any, *contacts: Contact) -> None:
    page.goto("/admin/demo/contact/")
    for contact in contacts:
        page.check(f"input[name=_selected_action][value='{contact.pk}']")
    page.select_option("select[name=action]", "call_with_dialogtech")
    page.click("button[name=index]")
    page.wait_for_selector("#clicktoagent-call-form")


def test_call_two_contacts_from_the_admin_action(
    page: Any, staff, people, sandbox: SandboxServer
) -> None:
    login(page)
    open_call_form(page, people["ada"], people["grace"])
    # The user's own agent and its queue are preselected.
    assert page.input_value("select[name=agent]") == "98765"
    assert page.input_value("select[name=queue]") == "12345"
    screenshot(page, "call-form")
    page.click("input[name=_call]")
    page.wait_for_selector("#clicktoagent-summary")
    screenshot(page, "action-summary")
    assert page.inner_text("[data-count=placed]") == "2"
    assert page.inner_text("[data-count=failed]") == "0"
    sids = [
        s.strip()
        for s in page.locator("#clicktoagent-outcomes .clicktoagent-sid").all_inner_texts()
    ]
    attempts = CallAttempt.objects.filter(status=Status.PLACED)
    assert sorted(sids) == sorted(a.sid for a in attempts) and len(sids) == 2


def test_back_button_and_reload_dial_nobody_twice(
    page: Any, staff, people, sandbox: SandboxServer
) -> None:
    login(page)
    open_call_form(page, people["ada"], people["grace"])
    page.click("input[name=_call]")
    page.wait_for_selector("#clicktoagent-summary")
    # Reload re-posts the same form.
    page.once("dialog", lambda dialog: dialog.accept())
    page.reload()
    page.wait_for_selector("#clicktoagent-repeated")
    # Back to the form (the same one, from the history cache) and submit it again.
    page.go_back()
    page.wait_for_selector("#clicktoagent-call-form")
    page.click("input[name=_call]")
    page.wait_for_selector("#clicktoagent-summary")
    assert page.locator("#clicktoagent-repeated").is_visible()
    assert CallAttempt.objects.count() == 2
    assert len(sandbox.requests()) == 2


def test_double_clicks_dial_once(page: Any, staff, people, sandbox: SandboxServer) -> None:
    login(page)
    open_call_form(page, people["ada"], people["grace"])
    page.dblclick("input[name=_call]")
    page.wait_for_selector("#clicktoagent-summary")
    assert CallAttempt.objects.count() == 2
    assert len(sandbox.requests()) == 2

    page.goto(f"/contacts/{people['ada'].pk}/")
    page.dblclick("button[data-clicktoagent-call]")
    outcome = page.locator("[data-clicktoagent-outcome]")
    outcome.filter(has_text=re.compile("Placed, sid")).wait_for()
    screenshot(page, "call-button")
    assert page.is_enabled("button[data-clicktoagent-call]")
    button_attempts = CallAttempt.objects.filter(idempotency_key__startswith="button:")
    assert button_attempts.count() == 1
    assert button_attempts.get().sid in outcome.inner_text()
    assert len(sandbox.requests()) == 3


def test_retry_unknown_attempt_through_its_confirmation_page(
    page: Any, staff, people, sandbox: SandboxServer
) -> None:
    sandbox.add_fault("drop")
    attempt = call_attempt_create(
        queue_id="12345",
        agent_id="98765",
        phone_to_call="3125550123",
        contact=people["ada"],
        source="command",
    )
    attempt.refresh_from_db()
    assert attempt.status == Status.UNKNOWN
    login(page)
    page.goto(f"/admin/clicktoagent/callattempt/{attempt.pk}/change/")
    page.click("a.clicktoagent-retry-link")
    warning = page.locator("#clicktoagent-unknown-warning")
    assert "may already have been called" in warning.inner_text()
    screenshot(page, "retry-confirmation")
    assert not CallAttempt.objects.filter(retry_of=attempt).exists()
    page.click("#clicktoagent-confirm-retry")
    page.wait_for_selector(".messagelist")
    retry = CallAttempt.objects.get(retry_of=attempt)
    assert retry.status == Status.PLACED
    assert page.url.endswith(f"/admin/clicktoagent/callattempt/{retry.pk}/change/")
    assert retry.sid in page.inner_text(".messagelist")


def test_dashboard_draws_the_charts(page: Any, staff, people, sandbox: SandboxServer) -> None:
    for phone in ("3125550123", "3125550124", "3125550168"):
        call_attempt_create(
            queue_id="12345", agent_id="98765", phone_to_call=phone, source="command"
        )
    login(page)
    page.goto("/admin/clicktoagent/callattempt/")
    page.click("a.clicktoagent-dashboard-link")
    page.wait_for_selector("#clicktoagent-daily-chart")
    screenshot(page, "dashboard")
    assert page.locator("#clicktoagent-daily-chart rect.bar-placed").count() == 1
    assert page.locator("#clicktoagent-daily-chart rect.bar-unknown").count() == 1
    assert page.inner_text("#clicktoagent-success-rate") == "67%"
    box = page.locator("#clicktoagent-agent-chart rect.bar-rate").bounding_box()
    assert box is not None and box["width"] > 100
