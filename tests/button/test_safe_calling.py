"""The call button goes through the safe-calling rules."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt

from .test_views import button_data, post, render

pytestmark = [pytest.mark.safe_calling, pytest.mark.django_db(transaction=True)]

LATE = datetime(2026, 12, 2, 22, 0, tzinfo=ZoneInfo("America/Chicago"))


def test_a_late_click_is_scheduled_not_dialled(
    caller_client: Client, caller, contacts, sandbox: SandboxServer
) -> None:
    with time_machine.travel(LATE, tick=True):
        html = render(caller, "{% clicktoagent_button c %}", c=contacts["ada"])
        code, body = post(caller_client, button_data(html)["token"])
    assert code == 202, body
    attempt = CallAttempt.objects.get()
    assert body["status"] == "pending"
    assert body["reason"].startswith("Scheduled for")
    assert attempt.next_try_at is not None
    assert [v["rule"] for v in attempt.violations] == ["calling_hours"]
    assert sandbox.requests() == []
