"""What every webhook endpoint shares: methods, login middleware, configuration, routing,
store-first, the admin."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.checks import run_checks
from django.db import OperationalError, connection
from django.test import Client

from clicktoagent import taskcompat
from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt, CrmUserMapping, Queue, WebhookEvent
from tests.webhooks.conftest import (
    BASE,
    SALESFORCE_TOKEN,
    SECRETS,
    basic_auth,
    generic_headers,
    hubspot_headers,
    json_body,
    post_json,
    salesforce_message,
    salesforce_notification,
)

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINTS = ["generic", "hubspot", "salesforce", "pipedrive"]
CALL = {"phone_to_call": "3125550123", "queue_id": "12345", "agent_id": "98765"}
HUBSPOT_PATH = f"{BASE}/hubspot/?queue_id=12345&agent_id=98765"


def hubspot_delivery(data: Any) -> Any:
    body = json_body(data)
    headers = hubspot_headers(body, uri=f"http://testserver{HUBSPOT_PATH}")
    return post_json(Client(), HUBSPOT_PATH, body, **headers)


@pytest.mark.parametrize("name", ENDPOINTS)
def test_post_only_and_head_answers_200(webhook_settings, name: str) -> None:
    client = Client()
    url = f"{BASE}/{name}/"
    assert client.head(url).status_code == 200
    for method in ("get", "put", "patch", "delete", "options"):
        assert getattr(client, method)(url).status_code == 405, method


def test_reachable_with_login_required_middleware(webhook_settings, demo_data, settings) -> None:
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    client = Client()
    assert client.get("/admin/").status_code == 302  # the middleware is active
    for name in ENDPOINTS:
        assert client.head(f"{BASE}/{name}/").status_code == 200
    body = json_body(CALL)
    response = post_json(client, f"{BASE}/generic/", body, **generic_headers(body))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("name", ENDPOINTS)
def test_unconfigured_endpoint_refuses_everything(sandbox, demo_data, caplog, name) -> None:
    body = json_body(CALL)
    headers = generic_headers(body) if name == "generic" else {}
    response = post_json(Client(), f"{BASE}/{name}/", body, **headers)
    assert response.status_code == 401
    assert b"not configured" in response.content
    assert not WebhookEvent.objects.exists()
    assert f"webhook {name}: refused a delivery" in caplog.text


def test_system_checks_warn_about_each_unconfigured_endpoint(settings) -> None:
    settings.CLICKTOAGENT = {}
    ids = {m.id for m in run_checks()}
    assert {"clicktoagent.W101", "clicktoagent.W102", "clicktoagent.W103"} <= ids
    assert {"clicktoagent.W104", "clicktoagent.W105"} <= ids
    settings.CLICKTOAGENT = {"WEBHOOK_SECRET": "whsec_%%%not base64"}
    assert "clicktoagent.E101" in {m.id for m in run_checks()}


def test_system_checks_quiet_when_configured(webhook_settings) -> None:
    ids = {m.id for m in run_checks()}
    assert not ids & {f"clicktoagent.W10{i}" for i in range(1, 7)}
    assert not ids & {f"clicktoagent.E10{i}" for i in range(1, 5)}


def test_refusals_are_counted_in_the_log(webhook_settings, demo_data, caplog) -> None:
    for _ in range(2):
        post_json(Client(), f"{BASE}/hubspot/", b"{}")
    refusals = [r.getMessage() for r in caplog.records if "refused a delivery" in r.getMessage()]
    assert len(refusals) == 2
    first, second = (int(m.rsplit("(", 1)[1].split()[0]) for m in refusals)
    assert second == first + 1


def test_too_large_body_is_refused(webhook_settings, settings, demo_data) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "WEBHOOK_MAX_BODY_BYTES": 100}
    body = json_body({**CALL, "contact_ref": "x" * 200})
    response = post_json(Client(), f"{BASE}/generic/", body, **generic_headers(body))
    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


# -- routing: URL defaults and CRM owner mapping ---------------------------------------


def test_mapped_agent_outside_the_url_queue_uses_its_first_active_queue(
    webhook_settings: SandboxServer, demo_data
) -> None:
    casey = demo_data["casey"]  # only in queue 12346 (Support)
    CrmUserMapping.objects.create(provider="hubspot", crm_user_id="31", agent=casey)
    Queue.objects.create(queue_id="12399", name="Archive", is_active=False).agents.add(casey)
    hubspot_delivery({"hs_object_id": "1", "phone": "3125550123", "hubspot_owner_id": "31"})
    attempt = CallAttempt.objects.get()
    assert (attempt.queue.queue_id, attempt.agent.agent_id) == ("12346", "98767")


def test_unmapped_owner_falls_back_to_the_url_agent(webhook_settings, demo_data) -> None:
    hubspot_delivery({"hs_object_id": "2", "phone": "3125550123", "hubspot_owner_id": "404"})
    assert CallAttempt.objects.get().agent.agent_id == "98765"


def test_mapped_agent_without_active_queue_is_rejected(webhook_settings, demo_data) -> None:
    lonely = demo_data["casey"]
    lonely.queues.clear()
    CrmUserMapping.objects.create(provider="hubspot", crm_user_id="32", agent=lonely)
    response = hubspot_delivery(
        {"hs_object_id": "3", "phone": "3125550123", "hubspot_owner_id": 32}
    )
    assert response.status_code == 400
    assert "not a member of any active queue" in response.json()["error"]


def test_no_agent_anywhere_is_rejected_with_the_reason(webhook_settings, demo_data) -> None:
    body = json_body({"phone_to_call": "3125550123"})
    response = post_json(Client(), f"{BASE}/generic/", body, **generic_headers(body))
    assert response.status_code == 400
    error = response.json()["error"]
    assert "queue_id: A queue_id is required." in error
    assert "agent_id: An agent_id is required." in error


# -- store first --------------------------------------------------------------------


def test_event_stored_before_a_database_failure_is_finished_by_the_redelivery(
    webhook_settings: SandboxServer, demo_data
) -> None:
    body = json_body(CALL)
    headers = generic_headers(body, msg_id="msg_store_first")

    def attempts_unavailable(execute: Any, sql: str, params: Any, many: bool, context: Any):
        if sql.lstrip().upper().startswith("INSERT") and "clicktoagent_callattempt" in sql:
            raise OperationalError("could not write: database is read-only")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(attempts_unavailable):
        response = post_json(Client(), f"{BASE}/generic/", body, **headers)
    assert response.status_code == 503
    assert response["Retry-After"]
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.RECEIVED  # stored, not yet acted on
    assert not CallAttempt.objects.exists()

    retry = post_json(Client(), f"{BASE}/generic/", body, **headers)
    assert retry.json()["status"] == "duplicate"
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert CallAttempt.objects.count() == 1
    assert len(webhook_settings.requests()) == 1


def test_a_new_delivery_is_stored_and_acted_on_in_one_transaction(
    webhook_settings: SandboxServer, demo_data, settings, django_assert_num_queries
) -> None:
    # The failed-authentication count (one read), BEGIN, queue+agent+membership, the
    # attempt's INSERT, the event's INSERT (already processed), the link, COMMIT: no
    # savepoint, no lock, no read and no UPDATE of the event, and no idempotency lookup
    # (a key already held fails the INSERT). The call is only queued.
    body = json_body(CALL)
    headers = generic_headers(body, msg_id="msg_one_transaction")
    settings.TASKS = {"default": {"BACKEND": taskcompat.DUMMY_BACKEND}}  # only queued
    with django_assert_num_queries(7, exact=True) as captured:
        response = post_json(Client(), f"{BASE}/generic/", body, **headers)
    assert response.status_code == 200, response.content
    sql = [q["sql"] for q in captured.captured_queries]
    assert not any("FOR UPDATE" in q or "SAVEPOINT" in q for q in sql)
    assert sum(q.startswith("SELECT") and "clicktoagent_callattempt" in q for q in sql) == 0
    assert [q.split()[0] for q in sql].count("COMMIT") == 1
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert list(event.attempts.values_list("status", flat=True)) == ["pending"]
    assert not webhook_settings.requests()


def test_a_new_delivery_whose_key_an_attempt_holds_dials_nothing_again(
    webhook_settings: SandboxServer, demo_data
) -> None:
    # The event is deleted but its attempt kept: the redelivery is a new event, and the
    # key's unique constraint (not a lookup) finds the attempt the delivery made before.
    body = json_body(CALL)
    headers = generic_headers(body, msg_id="msg_deleted_event")
    attempt_id = _delivered_then_event_deleted(body, headers)

    again = post_json(Client(), f"{BASE}/generic/", body, **headers)
    assert again.status_code == 200, again.content
    assert again.json()["status"] == "processed"
    assert [a["id"] for a in again.json()["attempts"]] == [attempt_id]
    assert CallAttempt.objects.count() == 1
    assert len(webhook_settings.requests()) == 1
    assert list(WebhookEvent.objects.get().attempts.values_list("pk", flat=True)) == [attempt_id]


def test_a_new_delivery_whose_key_another_request_holds_is_rejected_with_the_reason(
    webhook_settings: SandboxServer, demo_data
) -> None:
    body = json_body(CALL)
    attempt_id = _delivered_then_event_deleted(body, generic_headers(body, msg_id="msg_key_taken"))
    # Same delivery id, another call: the key is the same, the request is not.
    other = json_body({**CALL, "phone_to_call": "3125550199"})
    response = post_json(
        Client(), f"{BASE}/generic/", other, **generic_headers(other, msg_id="msg_key_taken")
    )
    assert response.status_code == 400, response.content
    assert "idempotency key was already used" in response.json()["error"]
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.REJECTED
    assert not event.attempts.exists()
    assert CallAttempt.objects.count() == 1
    assert CallAttempt.objects.get().pk == attempt_id
    assert len(webhook_settings.requests()) == 1


def _delivered_then_event_deleted(body: bytes, headers: dict[str, str]) -> int:
    """Deliver once, then delete the stored event and keep its attempt (its id)."""
    first = post_json(Client(), f"{BASE}/generic/", body, **headers)
    assert first.status_code == 200, first.content
    WebhookEvent.objects.all().delete()
    return int(first.json()["attempts"][0]["id"])


def test_secrets_never_stored_answered_or_logged(webhook_settings, demo_data, caplog) -> None:
    body = json_body(CALL)
    responses = [
        post_json(Client(), f"{BASE}/generic/", body, **generic_headers(body)),
        post_json(Client(), f"{BASE}/generic/", body, **generic_headers(body, secret="whsec_eA==")),
        hubspot_delivery({"hs_object_id": "9", "phone": "3125550123"}),
        post_json(Client(), f"{BASE}/pipedrive/", body, Authorization="Basic Zm9vOmJhcg=="),
        Client().generic(
            "POST",
            f"{BASE}/salesforce/?token={SALESFORCE_TOKEN}&queue_id=12345&agent_id=98765",
            salesforce_message(salesforce_notification(notification_id="04lSECRET")),
            content_type="text/xml",
        ),
    ]
    assert responses[-1].status_code == 200
    stored = json.dumps(list(WebhookEvent.objects.values()), default=str)
    answered = b"".join(r.content for r in responses).decode()
    for secret in SECRETS:
        assert secret not in stored
        assert secret not in answered
        assert secret not in caplog.text


# -- JSON bodies: depth and size limits -------------------------------------------

DEEP = b"[" * 50_000
JSON_PROVIDERS = ["generic", "hubspot", "pipedrive"]


def signed_delivery(provider: str, body: bytes, msg_id: str = "msg_deep") -> Any:
    """``body`` sent with valid credentials to ``provider``'s endpoint."""
    if provider == "generic":
        return post_json(Client(), f"{BASE}/generic/", body, **generic_headers(body, msg_id=msg_id))
    if provider == "hubspot":
        headers = hubspot_headers(body, uri=f"http://testserver{HUBSPOT_PATH}")
        return post_json(Client(), HUBSPOT_PATH, body, **headers)
    path = f"{BASE}/pipedrive/?queue_id=12345&agent_id=98765"
    return post_json(Client(), path, body, Authorization=basic_auth())


def assert_nothing_dialled_or_left_received(sandbox: SandboxServer) -> None:
    assert sandbox.requests() == []
    assert not CallAttempt.objects.exists()
    assert not WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED).exists()


@pytest.mark.parametrize("provider", JSON_PROVIDERS)
def test_deeply_nested_json_is_rejected_with_the_reason(
    webhook_settings: SandboxServer, demo_data, provider: str
) -> None:
    for _ in range(2):  # the first delivery, then the sender's retry
        response = signed_delivery(provider, DEEP)
        assert response.status_code in (200, 400), response.content
        assert_nothing_dialled_or_left_received(webhook_settings)
    assert response.json()["status"] == "duplicate"
    event = WebhookEvent.objects.get(holds_delivery_id=True)
    assert event.status == WebhookEvent.Status.REJECTED
    assert "nested 50000 levels deep; at most 32 are accepted" in event.error
    first = signed_delivery(provider, DEEP + b" ", msg_id="msg_deep_2")
    assert first.status_code == 400
    assert "nested 50000 levels deep" in first.json()["error"]


def hubspot_nested(depth: int) -> bytes:
    # A real record with one property nested ``depth`` levels (the record itself is one).
    extra = "[" * (depth - 1) + "]" * (depth - 1)
    return b'{"hs_object_id": "7", "phone": "3125550123", "extra": ' + extra.encode() + b"}"


def test_json_at_the_depth_limit_is_accepted_one_level_more_is_rejected(
    webhook_settings: SandboxServer, demo_data
) -> None:
    refused = signed_delivery("hubspot", hubspot_nested(33))
    assert refused.status_code == 400
    assert "nested 33 levels deep; at most 32" in refused.json()["error"]
    assert_nothing_dialled_or_left_received(webhook_settings)
    accepted = signed_delivery("hubspot", hubspot_nested(32))
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["attempts"][0]["status"] == "placed"
    assert len(webhook_settings.requests()) == 1


def test_json_depth_limit_is_a_setting(webhook_settings: SandboxServer, settings, demo_data):
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "JSON_MAX_DEPTH": 2}
    response = signed_delivery("hubspot", hubspot_nested(3))
    assert "nested 3 levels deep; at most 2" in response.json()["error"]


# -- admin ---------------------------------------------------------------------------


@pytest.fixture
def admin_client(db) -> Client:
    user = User.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client = Client()
    client.force_login(user)
    return client


def test_admin_lists_and_shows_events(webhook_settings, demo_data, admin_client) -> None:
    body = json_body({**CALL, "phone_to_call": "12"})
    post_json(Client(), f"{BASE}/generic/", body, **generic_headers(body, msg_id="msg_admin"))
    event = WebhookEvent.objects.get()
    listing = admin_client.get(
        "/admin/clicktoagent/webhookevent/", {"status__exact": "rejected", "provider": "generic"}
    )
    assert listing.status_code == 200
    assert b"msg_admin" in listing.content
    detail = admin_client.get(f"/admin/clicktoagent/webhookevent/{event.pk}/change/")
    assert detail.status_code == 200
    assert b"&quot;phone_to_call&quot;: &quot;12&quot;" in detail.content  # the raw body
    assert b"is not a phone number" in detail.content or b"not a valid" in detail.content
    assert admin_client.get("/admin/clicktoagent/crmusermapping/add/").status_code == 200


def test_admin_process_again_after_fixing_the_mapping(
    webhook_settings: SandboxServer, demo_data, admin_client
) -> None:
    demo_data["casey"].queues.clear()
    mapping = CrmUserMapping.objects.create(
        provider="hubspot", crm_user_id="61", agent=demo_data["casey"]
    )
    hubspot_delivery({"hs_object_id": "6", "phone": "3125550123", "hubspot_owner_id": "61"})
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.REJECTED
    mapping.agent = demo_data["sam"]
    mapping.save()
    url = "/admin/clicktoagent/webhookevent/"
    response = admin_client.post(
        url, {"action": "process_again", "_selected_action": [event.pk]}, follow=True
    )
    assert b"processed: call attempt(s)" in response.content
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.attempts.get().agent.agent_id == "98766"
    assert len(webhook_settings.requests()) == 1
    # A processed event is not processed again: the call is not placed twice.
    response = admin_client.post(
        url, {"action": "process_again", "_selected_action": [event.pk]}, follow=True
    )
    assert b"only rejected, ignored or unprocessed events" in response.content
    assert len(webhook_settings.requests()) == 1


def test_process_again_needs_the_place_call_permission(webhook_settings, demo_data) -> None:
    body = json_body({"phone_to_call": ""})
    post_json(Client(), f"{BASE}/generic/", body, **generic_headers(body))
    user = User.objects.create_user("viewer", password="pw-for-tests-only", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client = Client()
    client.force_login(user)
    response = client.get("/admin/clicktoagent/webhookevent/")
    assert response.status_code == 200
    assert b"rejected" in response.content
    assert b"process_again" not in response.content
    user.user_permissions.add(Permission.objects.get(codename="place_call"))
    assert b"process_again" in client.get("/admin/clicktoagent/webhookevent/").content


@pytest.mark.parametrize("provider", JSON_PROVIDERS)
@pytest.mark.parametrize("status", [WebhookEvent.Status.RECEIVED, WebhookEvent.Status.REJECTED])
def test_admin_process_again_rejects_an_unreadable_event_with_the_reason(
    webhook_settings: SandboxServer, demo_data, admin_client, provider: str, status: str
) -> None:
    # An event stored by an earlier version, whose processing crashed and left it received.
    event = WebhookEvent.objects.create(
        provider=provider,
        delivery_id=f"deep-{provider}",
        body=DEEP.decode(),
        status=status,
        query={"queue_id": "12345", "agent_id": "98765"},
    )
    response = admin_client.post(
        "/admin/clicktoagent/webhookevent/",
        {"action": "process_again", "_selected_action": [event.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert b"rejected: The body cannot be read" in response.content
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.REJECTED
    assert "nested 50000 levels deep; at most 32 are accepted" in event.error
    assert_nothing_dialled_or_left_received(webhook_settings)
