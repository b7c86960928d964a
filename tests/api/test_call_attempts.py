"""Placing, reading, retrying and cancelling call attempts through the REST API."""

from __future__ import annotations

import json
from base64 import b64encode
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt

from .conftest import API, CALL

URL = f"{API}/call-attempts/"
FIELDS = {
    "id",
    "status",
    "queue_id",
    "agent_id",
    "phone_to_call",
    "first_callerid",
    "second_callerid",
    "record",
    "warning",
    "sid",
    "result",
    "result_description",
    "error",
    "contact_ref",
    "source",
    "tries",
    "retry_of",
    "contact_region",
    "outside_hours",
    "violations",
    "adjustments",
    "overridden_rules",
    "override_reason",
    "next_try_at",
    "created_at",
    "dispatched_at",
    "finished_at",
}

pytestmark = pytest.mark.django_db(transaction=True)


def post(api: APIClient, body: dict[str, Any], **headers: str) -> Any:
    return api.post(URL, body, format="json", headers=headers)


def test_create_places_the_call_and_answers_201_with_the_finished_attempt(
    api: APIClient, caller, sandbox: SandboxServer, demo_data
) -> None:
    response = post(
        api,
        {
            **CALL,
            "first_callerid": "312-555-0100",
            "record": 1,
            "warning": 2,
            "contact_ref": "hubspot:contact:501",
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == FIELDS
    (seen,) = sandbox.requests()
    assert body["status"] == "placed"
    assert body["sid"] == seen["sid"] and body["sid"]
    assert body["result"] == "success"
    assert body["result_description"] == "Request Processed"
    assert body["queue_id"] == "12345" and body["agent_id"] == "98765"
    assert body["phone_to_call"] == "3125550123"
    assert body["first_callerid"] == "3125550100"
    assert (body["record"], body["warning"]) == (1, 2)
    assert body["contact_ref"] == "hubspot:contact:501"
    assert body["source"] == "api" and body["tries"] == 1 and body["retry_of"] is None
    assert body["dispatched_at"] and body["finished_at"] and body["created_at"]
    attempt = CallAttempt.objects.get(pk=body["id"])
    assert attempt.requested_by == caller
    assert attempt.source == CallAttempt.Source.API


def test_a_refusal_by_dialogtech_is_a_created_failed_attempt(
    api: APIClient, sandbox: SandboxServer, demo_data
) -> None:
    response = post(api, {**CALL, "queue_id": "12346", "agent_id": "98767"})  # agent Closed
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "failed"
    assert body["result"] == "failed"
    assert body["result_description"] == (
        "Agent '98767' is unavailable: mode is 'Closed' (must be Open, Outbound or Busy (Work))"
    )
    assert body["sid"] == ""
    assert len(sandbox.requests()) == 1


def test_a_maybe_sent_call_is_created_unknown(
    api: APIClient, sandbox: SandboxServer, demo_data
) -> None:
    response = post(api, {**CALL, "phone_to_call": "3125550166"})  # the emulator answers 500
    assert response.status_code == 201
    assert response.json()["status"] == "unknown"
    assert response.json()["error"]


def test_queued_dispatch_answers_202_with_the_pending_attempt(
    api: APIClient, sandbox: SandboxServer, demo_data, queued_dispatch
) -> None:
    response = post(api, CALL)
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert response.json()["dispatched_at"] is None
    assert sandbox.requests() == []


def test_the_call_is_dispatched_before_the_answer_even_with_atomic_requests(
    api: APIClient, sandbox: SandboxServer, demo_data
) -> None:
    connection.settings_dict["ATOMIC_REQUESTS"] = True
    try:
        response = post(api, CALL)
    finally:
        connection.settings_dict["ATOMIC_REQUESTS"] = False
    assert response.status_code == 201
    assert response.json()["status"] == "placed"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"phone_to_call": "555-01"},
            "phone_to_call",
            "'555-01' is not a valid phone number (check the area code and the number of digits).",
        ),
        (
            {"phone_to_call": "call me"},
            "phone_to_call",
            "'call me' is not a phone number (it does not look like a number).",
        ),
        (
            {"first_callerid": "12"},
            "first_callerid",
            "'12' is not a valid phone number (check the area code and the number of digits).",
        ),
        ({"queue_id": "99999"}, "queue_id", "Unknown queue_id '99999'."),
        ({"agent_id": "11111"}, "agent_id", "Unknown agent_id '11111'."),
        (
            {"agent_id": "98767"},
            "agent_id",
            "Agent '98767' is not a member of queue '12345'.",
        ),
        (
            {"warning": 7},
            "warning",
            "warning must be one of 0 (No recording warning), 1 (Warning for both parties), "
            '2 (Warning for the agent only), 3 (Warning for the contact only); got "7".',
        ),
        ({"record": 2}, "record", 'record must be one of 0 (Do not record), 1 (Record); got "2".'),
        ({"phone_to_call": ""}, "phone_to_call", "This field may not be blank."),
        ({"queue_id": None}, "queue_id", "This field may not be null."),
    ],
)
def test_bad_input_is_400_per_field_and_nothing_is_stored_or_sent(
    api: APIClient, sandbox: SandboxServer, demo_data, change, field, message
) -> None:
    response = post(api, {**CALL, **change})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {field: [message]}
    assert CallAttempt.objects.count() == 0
    assert sandbox.requests() == []


def test_missing_fields_are_named(api: APIClient, sandbox: SandboxServer, demo_data) -> None:
    response = post(api, {})
    assert response.status_code == 400
    assert response.json() == {
        name: ["This field is required."] for name in ("queue_id", "agent_id", "phone_to_call")
    }


def test_a_body_that_is_not_json_is_400(api: APIClient, demo_data) -> None:
    response = api.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert CallAttempt.objects.count() == 0


def nested_call(depth: int) -> str:
    """A call whose ``contact_ref`` is nested so the whole body is ``depth`` levels deep."""
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return json.dumps(CALL)[:-1] + f', "contact_ref": {inner}}}'


def test_deeply_nested_json_is_400_and_dials_nobody(
    api: APIClient, sandbox: SandboxServer, demo_data
) -> None:
    for body in ("[" * 50_000, nested_call(30_000), nested_call(33)):
        response = api.post(URL, body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert "levels deep; at most 32 are accepted" in response.json()["detail"]
    # At the limit the body is parsed: the field itself is then refused.
    response = api.post(URL, nested_call(32), content_type="application/json")
    assert response.status_code == 400
    assert "contact_ref" in response.json()
    assert CallAttempt.objects.count() == 0
    assert sandbox.requests() == []


def test_oversized_body_is_413_and_dials_nobody(
    api: APIClient, sandbox: SandboxServer, demo_data, settings
) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "API_MAX_BODY_BYTES": 500}
    big = {**CALL, "contact_ref": "x" * 600}
    for response in (
        post(api, big),
        api.post(URL, big),  # multipart
        api.post(URL, urlencode(big), content_type="application/x-www-form-urlencoded"),
    ):
        assert response.status_code == 413, response.content
        assert "at most 500 are accepted" in response.json()["detail"]
    assert post(api, {**CALL, "contact_ref": "x" * 100}).status_code == 201
    assert len(sandbox.requests()) == 1


def test_agents_and_queues_refuse_deep_json_too(admin_api: APIClient, demo_data) -> None:
    for path in (f"{API}/agents/", f"{API}/queues/"):
        response = admin_api.post(path, "[" * 50_000, content_type="application/json")
        assert response.status_code == 400
        assert "levels deep" in response.json()["detail"]


def test_inactive_queue_is_refused(api: APIClient, sandbox: SandboxServer, demo_data) -> None:
    demo_data["sales"].is_active = False
    demo_data["sales"].save()
    response = post(api, CALL)
    assert response.status_code == 400
    assert response.json() == {"queue_id": ["Queue '12345' is inactive."]}


# ---------------------------------------------------------------------- idempotency


def test_a_repeat_with_the_same_key_returns_the_first_attempt_without_calling_again(
    api: APIClient, sandbox: SandboxServer, demo_data
) -> None:
    first = post(api, CALL, **{"Idempotency-Key": "order-77"})
    assert first.status_code == 201
    # The same call written differently is the same request.
    again = post(api, {**CALL, "phone_to_call": "312.555.0123"}, **{"Idempotency-Key": "order-77"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert CallAttempt.objects.count() == 1
    assert len(sandbox.requests()) == 1


def test_the_same_key_with_a_different_body_is_409(
    api: APIClient, sandbox: SandboxServer, demo_data
) -> None:
    assert post(api, CALL, **{"Idempotency-Key": "order-78"}).status_code == 201
    response = post(api, {**CALL, "warning": 0}, **{"Idempotency-Key": "order-78"})
    assert response.status_code == 409
    assert "already used for a different request" in response.json()["detail"]
    assert CallAttempt.objects.count() == 1
    assert len(sandbox.requests()) == 1


def test_idempotency_keys_belong_to_their_user(
    api: APIClient, make_user, sandbox: SandboxServer, demo_data
) -> None:
    from .conftest import token_client

    other = token_client(make_user("clicktoagent.place_call"))
    assert post(api, CALL, **{"Idempotency-Key": "k-1"}).status_code == 201
    assert post(other, {**CALL, "warning": 0}, **{"Idempotency-Key": "k-1"}).status_code == 201
    assert CallAttempt.objects.count() == 2


@pytest.mark.parametrize("key", ["", "x" * 201, "caf\u00e9"])
def test_a_bad_idempotency_key_is_400(api: APIClient, sandbox: SandboxServer, demo_data, key):
    response = post(api, CALL, **{"Idempotency-Key": key})
    assert response.status_code == 400
    assert list(response.json()) == ["Idempotency-Key"]
    assert CallAttempt.objects.count() == 0


# ---------------------------------------------------------------------- read


def _attempt(demo_data: dict[str, Any], **fields: Any) -> CallAttempt:
    values: dict[str, Any] = {
        "queue": demo_data["sales"],
        "agent": demo_data["dana"],
        "phone_to_call": "3125550123",
        "record": 0,
        "warning": 1,
        "source": CallAttempt.Source.API,
        **fields,
    }
    return CallAttempt.objects.create(**values)


def test_retrieve(api: APIClient, caller, demo_data) -> None:
    attempt = _attempt(
        demo_data,
        status="failed",
        result="failed",
        result_description="No.",
        requested_by=caller,
    )
    response = api.get(f"{URL}{attempt.pk}/")
    assert response.status_code == 200
    assert response.json()["id"] == attempt.pk
    assert response.json()["result_description"] == "No."
    assert api.get(f"{URL}{attempt.pk + 1000}/").status_code == 404
    not_a_number = api.get(f"{URL}abc/")
    assert not_a_number.status_code == 404
    assert "detail" in not_a_number.json()
    assert api.get(f"{URL}{2**70}/").status_code == 404


def test_list_filters(api: APIClient, caller, demo_data) -> None:
    sam, support, casey = demo_data["sam"], demo_data["support"], demo_data["casey"]
    mine = {"requested_by": caller}
    placed = _attempt(demo_data, status="placed", **mine)
    failed = _attempt(demo_data, status="failed", agent=sam, source="webhook", **mine)
    other = _attempt(
        demo_data,
        queue=support,
        agent=casey,
        phone_to_call="3125550124",
        contact_ref="crm:1",
        **mine,
    )
    old = _attempt(demo_data, **mine)
    CallAttempt.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))

    def ids(**params: str) -> list[int]:
        response = api.get(URL, params)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [other.pk, failed.pk, placed.pk, old.pk]
    assert ids(status="placed") == [placed.pk]
    assert ids(agent_id="98766") == [failed.pk]
    assert ids(queue_id="12346") == [other.pk]
    assert ids(phone_to_call="(312) 555-0124") == [other.pk]
    assert ids(contact_ref="crm:1") == [other.pk]
    assert ids(source="webhook") == [failed.pk]
    cutoff = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(created_before=cutoff) == [old.pk]
    assert ids(created_after=cutoff) == [other.pk, failed.pk, placed.pk]
    assert ids(status="placed", agent_id="98766") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "nope"}, "status"),
        ({"source": "fax"}, "source"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"phone_to_call": "12"}, "phone_to_call"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": b64encode(b"p=not-a-date").decode()}, "cursor"),
    ],
)
def test_bad_filters_are_400(api: APIClient, demo_data, params, field) -> None:
    response = api.get(URL, params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_cursor_pagination_walks_every_attempt_once(api: APIClient, caller, demo_data) -> None:
    created = [_attempt(demo_data, requested_by=caller).pk for _ in range(5)]
    seen: list[int] = []
    url: str | None = f"{URL}?page_size=2"
    pages = 0
    while url:
        body = api.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
        pages += 1
    assert pages == 3
    assert seen == sorted(created, reverse=True)


# ---------------------------------------------------------------------- retry, cancel


def test_retry_a_failed_attempt_places_a_linked_new_one(
    api: APIClient, sandbox: SandboxServer, demo_data
) -> None:
    sandbox.set_agent_mode("98765", "Closed")
    failed = post(api, CALL).json()
    assert failed["status"] == "failed"
    sandbox.set_agent_mode("98765", "Open")
    response = api.post(f"{URL}{failed['id']}/retry/")
    assert response.status_code == 201
    body = response.json()
    assert body["retry_of"] == failed["id"]
    assert body["status"] == "placed"
    assert body["source"] == "api"
    # A second retry (a double click) answers with the same new attempt.
    again = api.post(f"{URL}{failed['id']}/retry/")
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    assert len(sandbox.requests()) == 2


def test_retry_of_a_placed_attempt_is_409(
    api: APIClient, sandbox: SandboxServer, demo_data
) -> None:
    placed = post(api, CALL).json()
    response = api.post(f"{URL}{placed['id']}/retry/")
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Call attempt {placed['id']} is placed; only failed or unknown attempts "
        "can be retried."
    }
    assert api.post(f"{URL}99999/retry/").status_code == 404


def test_retry_with_queued_dispatch_is_202(
    api: APIClient, caller, sandbox: SandboxServer, demo_data, queued_dispatch
) -> None:
    failed = _attempt(demo_data, status="failed", requested_by=caller)
    response = api.post(f"{URL}{failed.pk}/retry/")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"


def test_cancel_a_pending_attempt(
    api: APIClient, sandbox: SandboxServer, demo_data, queued_dispatch
) -> None:
    pending = post(api, CALL).json()
    response = api.post(f"{URL}{pending['id']}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["finished_at"]
    again = api.post(f"{URL}{pending['id']}/cancel/")
    assert again.status_code == 409
    assert "only pending attempts can be cancelled" in again.json()["detail"]
    assert sandbox.requests() == []
    assert api.post(f"{URL}99999/cancel/").status_code == 404
