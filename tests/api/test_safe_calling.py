"""The safe-calling rules through the REST API: create, retry and the call check (dry run)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from clicktoagent.models import CallAttempt, DoNotCallEntry

from .conftest import API, CALL, token_client

pytestmark = [pytest.mark.safe_calling, pytest.mark.django_db(transaction=True)]

URL = f"{API}/call-attempts/"
CHECKS = f"{API}/call-checks/"
CHICAGO = ZoneInfo("America/Chicago")


def chicago(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=CHICAGO)


def test_a_call_outside_hours_answers_202_scheduled_with_its_violations(
    api: APIClient, sandbox: Any, demo_data: Any
) -> None:
    with time_machine.travel(chicago(7, 12), tick=False):
        response = api.post(URL, CALL, format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert body["next_try_at"] == "2026-12-02T14:00:00Z"
    (violation,) = body["violations"]
    assert violation["rule"] == "calling_hours"
    assert violation["next_allowed_at"] is not None
    assert "7:12" in violation["message"]
    assert sandbox.requests() == []


def test_outside_hours_block_answers_201_blocked(
    api: APIClient, sandbox: Any, demo_data: Any
) -> None:
    with time_machine.travel(chicago(22), tick=False):
        response = api.post(URL, {**CALL, "outside_hours": "block"}, format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "blocked"
    assert [v["rule"] for v in response.json()["violations"]] == ["calling_hours"]
    assert sandbox.requests() == []


def test_bad_safe_calling_options_are_400_and_store_nothing(
    api: APIClient, sandbox: Any, demo_data: Any
) -> None:
    for field, value in (("outside_hours", "later"), ("contact_region", "Atlantis")):
        response = api.post(URL, {**CALL, field: value}, format="json")
        assert response.status_code == 400
        assert field in response.json()
    assert not CallAttempt.objects.exists()


def test_an_override_needs_the_permission(
    api: APIClient, make_user: Callable[..., User], sandbox: Any, demo_data: Any
) -> None:
    body = {**CALL, "override_reason": "The customer asked for an evening call"}
    with time_machine.travel(chicago(22), tick=False):
        refused = api.post(URL, body, format="json")
        assert refused.status_code == 403
        assert "override_guardrails" in refused.json()["detail"]
        assert not CallAttempt.objects.exists()

        boss = token_client(
            make_user("clicktoagent.place_call", "clicktoagent.override_guardrails")
        )
        placed = boss.post(URL, body, format="json")
    assert placed.status_code == 201, placed.json()
    assert placed.json()["status"] == "placed"
    assert placed.json()["overridden_rules"] == ["calling_hours"]
    assert placed.json()["override_reason"] == body["override_reason"]
    assert len(sandbox.requests()) == 1


def test_the_call_check_answers_whether_and_when(api: APIClient, demo_data: Any) -> None:
    response = api.post(
        CHECKS,
        {"phone_to_call": "(312) 555-0123", "queue_id": "12345", "at": "2026-12-02T07:12:00-06:00"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["allowed"] is False
    assert [v["rule"] for v in body["violations"]] == ["calling_hours"]
    assert body["timezones"] == ["America/Chicago"]
    assert body["region"] == "US-IL"
    assert body["next_allowed_at"] == "2026-12-02T14:00:00Z"
    assert body["adjustments"] == {}

    allowed = api.post(
        CHECKS,
        {
            "phone_to_call": "3125550123",
            "record": 1,
            "warning": 0,
            "at": "2026-12-02T10:00:00-06:00",
        },
        format="json",
    ).json()
    assert allowed["allowed"] is True
    assert allowed["violations"] == []
    assert allowed["adjustments"] == {"warning": 1}
    assert not CallAttempt.objects.exists()


def test_the_call_check_sees_the_do_not_call_list(api: APIClient, demo_data: Any) -> None:
    DoNotCallEntry.objects.create(phone_number="+13125550123", reason="asked")
    body = api.post(CHECKS, {"phone_to_call": "312-555-0123"}, format="json").json()
    assert body["allowed"] is False
    assert "do_not_call" in [v["rule"] for v in body["violations"]]
    assert body["next_allowed_at"] is None


def test_the_call_check_refuses_bad_input_and_users_who_cannot_call(
    api: APIClient, make_user: Callable[..., User], demo_data: Any
) -> None:
    no_offset = api.post(
        CHECKS, {"phone_to_call": "3125550123", "at": "2026-12-02T07:12:00"}, format="json"
    )
    assert no_offset.status_code == 400
    assert "offset" in " ".join(no_offset.json()["at"])
    unknown = api.post(CHECKS, {"phone_to_call": "3125550123", "queue_id": "nope"}, format="json")
    assert unknown.status_code == 400 and "queue_id" in unknown.json()
    bad_number = api.post(CHECKS, {"phone_to_call": "555-01"}, format="json")
    assert bad_number.status_code == 400 and "phone_to_call" in bad_number.json()
    reader = token_client(make_user("clicktoagent.view_callattempt"))
    assert reader.post(CHECKS, {"phone_to_call": "3125550123"}, format="json").status_code == 403
    assert APIClient().post(CHECKS, {"phone_to_call": "3125550123"}).status_code == 401
