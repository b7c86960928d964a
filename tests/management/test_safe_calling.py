"""``manage.py clicktoagent_call`` under the safe-calling rules."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt

from .test_clicktoagent_call import run

pytestmark = [pytest.mark.safe_calling, pytest.mark.django_db(transaction=True)]

LATE = datetime(2026, 12, 2, 22, 0, tzinfo=ZoneInfo("America/Chicago"))
ARGS = ("--queue", "12345", "--agent", "98765", "--phone", "3125550123")


def test_a_late_call_is_scheduled_and_exits_1(sandbox: SandboxServer, demo_data, capsys) -> None:
    with time_machine.travel(LATE, tick=True):
        code, out, _ = run(capsys, *ARGS)
    attempt = CallAttempt.objects.get()
    assert code == 1
    assert f"attempt {attempt.pk}: pending" in out
    assert "scheduled for 2026-12-03T14:00:00+00:00" in out
    assert "calling_hours: It is 22:00" in out
    assert sandbox.requests() == []


def test_block_and_contact_region_options(sandbox: SandboxServer, demo_data, capsys) -> None:
    with time_machine.travel(LATE.replace(hour=20, minute=30), tick=True):
        code, out, _ = run(capsys, *ARGS, "--contact-region", "FL", "--outside-hours", "block")
    attempt = CallAttempt.objects.get()
    assert code == 1
    assert attempt.status == CallAttempt.Status.BLOCKED
    assert ": blocked" in out and "calling_hours:" in out
    code, _, err = run(capsys, *ARGS, "--contact-region", "Atlantis")
    assert code == 2 and "invalid contact_region" in err
    assert sandbox.requests() == []
