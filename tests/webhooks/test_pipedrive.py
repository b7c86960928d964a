"""The Pipedrive webhook endpoint (v2 and v1 payloads, HTTP basic auth)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.test import Client

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt, CrmUserMapping, WebhookEvent
from tests.webhooks.conftest import (
    BASE,
    PIPEDRIVE_PASSWORD,
    basic_auth,
    json_body,
    post_json,
    run_together,
)

pytestmark = pytest.mark.django_db(transaction=True)

PATH = f"{BASE}/pipedrive/?queue_id=12345&agent_id=98765"

V2_CREATE: dict[str, Any] = {
    "data": {
        "add_time": "2026-11-26T10:51:01Z",
        "emails": [{"label": "work", "primary": True, "value": "ann@example.com"}],
        "first_name": "Ann",
        "id": 123,
        "label_ids": [],
        "last_name": "Lee",
        "name": "Ann Lee",
        "org_id": None,
        "owner_id": 4242,
        "phones": [
            {"label": "home", "primary": False, "value": "312-555-0199"},
            {"label": "work", "primary": True, "value": "312-555-0123"},
        ],
        "update_time": "2026-11-26T10:51:01Z",
        "visible_to": "3",
    },
    "previous": None,
    "meta": {
        "action": "create",
        "company_id": "9001",
        "correlation_id": "8a6f1c0e-3c0d-4a51-9a3a-1b8c0f6f1e11",
        "entity_id": "123",
        "entity": "person",
        "id": "1b0f2c5e-4a7d-4e8b-9c0a-2d3e4f5a6b7c",
        "is_bulk_edit": False,
        "timestamp": "2026-11-26T10:51:01.512Z",
        "type": "general",
        "user_id": "4242",
        "version": "2.0",
        "webhook_id": "77",
        "webhook_owner_id": "4242",
        "change_source": "app",
        "permitted_user_ids": ["4242"],
        "attempt": 1,
        "host": "example.pipedrive.com",
    },
}

V1_ADDED: dict[str, Any] = {
    "v": 1,
    "matches_filters": {"current": [], "previous": []},
    "meta": {
        "v": 1,
        "action": "added",
        "object": "person",
        "id": 124,
        "company_id": 9001,
        "user_id": 4242,
        "host": "example.pipedrive.com",
        "timestamp": 1764154261,
        "timestamp_micro": 1764154261384700,
        "permitted_user_ids": [4242],
        "trans_pending": False,
        "is_bulk_update": False,
        "pipedrive_service_name": False,
        "webhook_id": "78",
    },
    "current": {
        "id": 124,
        "name": "Bo Ray",
        "owner_id": {"id": 4243, "name": "Sam", "value": 4243},
        "phone": [{"label": "work", "value": "(312) 555-0124", "primary": True}],
        "email": [{"label": "work", "value": "bo@example.com", "primary": True}],
    },
    "previous": None,
    "retry": 0,
    "event": "added.person",
}


def deliver(data: Any, *, auth: str | None = None, path: str = PATH) -> Any:
    headers = {"Authorization": auth if auth is not None else basic_auth()}
    return post_json(Client(), path, json_body(data), **headers)


def test_v2_create_person_places_the_call(webhook_settings: SandboxServer, demo_data) -> None:
    CrmUserMapping.objects.create(provider="pipedrive", crm_user_id="4242", agent=demo_data["sam"])
    response = deliver(V2_CREATE)
    assert response.status_code == 200, response.content
    attempt = CallAttempt.objects.get()
    assert attempt.phone_to_call == "3125550123"  # the primary phone, not the first
    assert attempt.contact_ref == "pipedrive:person:123"
    assert attempt.agent.agent_id == "98766"  # mapped from owner_id
    assert attempt.status == CallAttempt.Status.PLACED
    event = WebhookEvent.objects.get()
    assert event.delivery_id == V2_CREATE["meta"]["id"]
    assert "Authorization" not in event.headers
    assert len(webhook_settings.requests()) == 1


def test_v1_added_person_with_owner_object(webhook_settings, demo_data) -> None:
    CrmUserMapping.objects.create(provider="pipedrive", crm_user_id="4243", agent=demo_data["sam"])
    response = deliver(V1_ADDED)
    assert response.status_code == 200, response.content
    attempt = CallAttempt.objects.get()
    assert attempt.phone_to_call == "3125550124"
    assert attempt.contact_ref == "pipedrive:person:124"
    assert attempt.agent.agent_id == "98766"
    assert WebhookEvent.objects.get().delivery_id == "v1:78:person:124:added:1764154261384700"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"action": "change"}, "Action 'change' does not place calls"),
        ({"entity": "deal"}, "Only person events"),
    ],
)
def test_other_actions_and_entities_are_ignored(webhook_settings, demo_data, change, reason):
    data = copy.deepcopy(V2_CREATE)
    data["meta"].update(change)
    response = deliver(data)
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert reason in response.json()["error"]
    assert not CallAttempt.objects.exists()


def test_dial_actions_setting(webhook_settings, settings, demo_data) -> None:
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "PIPEDRIVE_DIAL_ACTIONS": ["create", "change"],
    }
    data = copy.deepcopy(V1_ADDED)
    data["meta"]["action"] = "updated"
    assert deliver(data).json()["status"] == "processed"


@pytest.mark.parametrize(
    "auth",
    [
        "",
        basic_auth(password="wrong"),
        basic_auth(user="someone-else"),
        "Basic !!!not-base64",
        "Bearer " + PIPEDRIVE_PASSWORD,
    ],
)
def test_wrong_or_missing_credentials_get_401(webhook_settings, demo_data, caplog, auth) -> None:
    response = deliver(V2_CREATE, auth=auth)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Basic realm="')
    assert not WebhookEvent.objects.exists()
    assert PIPEDRIVE_PASSWORD not in caplog.text


def test_replayed_delivery_is_not_dialled_again(webhook_settings: SandboxServer, demo_data):
    assert deliver(V2_CREATE).json()["status"] == "processed"
    retry = copy.deepcopy(V2_CREATE)
    retry["meta"]["attempt"] = 2  # Pipedrive's retry of the same event
    assert deliver(retry).json()["status"] == "duplicate"
    assert CallAttempt.objects.count() == 1
    assert len(webhook_settings.requests()) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "not valid JSON"),
        ({"event": "added.person"}, "no 'meta' object"),
        ({**V2_CREATE, "data": {**V2_CREATE["data"], "phones": []}}, "no phone number"),
        (
            {
                **V2_CREATE,
                "data": {**V2_CREATE["data"], "phones": [{"value": "1", "primary": True}]},
            },
            "phone_to_call",
        ),
    ],
)
def test_unusable_deliveries_are_rejected(webhook_settings, demo_data, data, message) -> None:
    body = b"{oops" if data is None else json_body(data)
    response = post_json(Client(), PATH, body, Authorization=basic_auth())
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.REJECTED
    assert not CallAttempt.objects.exists()


@pytest.mark.postgres
def test_concurrent_duplicates_make_one_call(webhook_settings: SandboxServer, demo_data) -> None:
    webhook_settings.add_fault("latency", seconds=0.2)
    results = run_together(6, lambda: deliver(V2_CREATE))
    assert sorted(r.status_code for r in results) == [200] * 6, results
    assert WebhookEvent.objects.filter(holds_delivery_id=True).count() == 1
    assert CallAttempt.objects.count() == 1
    assert len(webhook_settings.requests()) == 1
