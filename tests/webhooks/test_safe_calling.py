"""Webhook deliveries go through the safe-calling rules like every other entry point."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from standardwebhooks.webhooks import Webhook

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt, DoNotCallEntry, WebhookEvent
from tests.webhooks.conftest import (
    BASE,
    WEBHOOK_SECRET,
    CallbackServer,
    generic_headers,
    json_body,
    post_json,
)

pytestmark = [pytest.mark.safe_calling, pytest.mark.django_db(transaction=True)]

URL = f"{BASE}/generic/"
CALL = {"phone_to_call": "(312) 555-0123", "queue_id": "12345", "agent_id": "98765"}
LATE = datetime(2026, 12, 2, 22, 0, tzinfo=ZoneInfo("America/Chicago"))


def deliver(data: object, *, msg_id: str):
    body = json_body(data)
    return post_json(Client(), URL, body, **generic_headers(body, msg_id=msg_id))


def test_a_late_delivery_is_stored_and_scheduled_not_dialled(
    webhook_settings: SandboxServer, demo_data
) -> None:
    with time_machine.travel(LATE, tick=True):
        response = deliver(CALL, msg_id="msg_late")
    assert response.status_code == 200, response.content
    attempt = CallAttempt.objects.get()
    assert response.json()["attempts"] == [{"id": attempt.pk, "status": "pending"}]
    assert attempt.next_try_at is not None
    assert [v["rule"] for v in attempt.violations] == ["calling_hours"]
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert webhook_settings.requests() == []


def test_a_delivery_may_ask_to_block_and_name_the_contacts_state(
    webhook_settings: SandboxServer, demo_data
) -> None:
    # 20:30 in Chicago: federal hours allow it, Florida's (to 20:00) do not.
    evening = LATE.replace(hour=20, minute=30)
    with time_machine.travel(evening, tick=True):
        deliver({**CALL, "contact_region": "FL", "outside_hours": "block"}, msg_id="msg_fl")
    attempt = CallAttempt.objects.get()
    assert attempt.status == CallAttempt.Status.BLOCKED
    assert attempt.contact_region == "US-FL"
    assert webhook_settings.requests() == []


def test_a_blocked_call_is_called_back_with_its_reasons(
    webhook_settings: SandboxServer, demo_data, callback_server: CallbackServer
) -> None:
    DoNotCallEntry.objects.create(phone_number="+13125550123", reason="asked by phone")
    # Within Chicago's calling hours: the do-not-call list is the only reason.
    # (The callback is signed at that time too.)
    with time_machine.travel(LATE.replace(hour=10), tick=True):
        response = deliver({**CALL, "callback_url": callback_server.url}, msg_id="msg_dnc")
        assert response.status_code == 200
        (request,) = callback_server.wait_for(1)
        payload = Webhook(WEBHOOK_SECRET).verify(request["body"], request["headers"])
    assert payload["data"]["status"] == "blocked"
    assert [v["rule"] for v in payload["data"]["violations"]] == ["do_not_call"]
    assert "do-not-call" in payload["data"]["error"]
    assert webhook_settings.requests() == []
