"""Authentication, permissions, throttling, query counts and secrets of the REST API."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt

from .conftest import API, CALL, token_client

ATTEMPTS = f"{API}/call-attempts/"

ROUTES = [
    ("get", ATTEMPTS),
    ("post", ATTEMPTS),
    ("get", f"{ATTEMPTS}1/"),
    ("post", f"{ATTEMPTS}1/retry/"),
    ("post", f"{ATTEMPTS}1/cancel/"),
    ("get", f"{API}/agents/"),
    ("post", f"{API}/agents/"),
    ("get", f"{API}/agents/98765/"),
    ("put", f"{API}/agents/98765/"),
    ("patch", f"{API}/agents/98765/"),
    ("get", f"{API}/queues/"),
    ("post", f"{API}/queues/"),
    ("get", f"{API}/queues/12345/"),
    ("put", f"{API}/queues/12345/"),
    ("patch", f"{API}/queues/12345/"),
    ("get", f"{API}/do-not-call/"),
    ("post", f"{API}/do-not-call/"),
    ("delete", f"{API}/do-not-call/1/"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_unauthenticated_is_401_with_a_challenge(method: str, url: str) -> None:
    response = getattr(APIClient(), method)(url, {}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Authentication credentials were not provided."}


@pytest.mark.django_db
def test_a_wrong_token_is_401() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get(ATTEMPTS).status_code == 401


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_a_user_without_permissions_is_403(make_user, demo_data, method: str, url: str) -> None:
    client = token_client(make_user())
    response = getattr(client, method)(url, {}, format="json")
    assert response.status_code == 403
    assert "detail" in response.json()


def test_session_authentication_works_too(make_user, demo_data) -> None:
    client = APIClient()
    client.force_login(make_user("clicktoagent.view_callattempt"))
    assert client.get(ATTEMPTS).status_code == 200


@pytest.mark.parametrize(
    ("perms", "allowed"),
    [
        (["clicktoagent.view_callattempt"], {"list"}),
        (["clicktoagent.place_call"], {"list", "create"}),
    ],
)
def test_reading_attempts_needs_view_or_place_call_and_creating_needs_place_call(
    make_user, demo_data, queued_dispatch, perms, allowed
) -> None:
    client = token_client(make_user(*perms))
    assert (client.get(ATTEMPTS).status_code == 200) == ("list" in allowed)
    created = client.post(ATTEMPTS, CALL, format="json").status_code
    assert created == (202 if "create" in allowed else 403)


def test_a_manager_with_view_permission_only_cannot_change_agents(make_user, demo_data) -> None:
    client = token_client(make_user("clicktoagent.view_agent"))
    assert client.get(f"{API}/agents/").status_code == 200
    response = client.patch(f"{API}/agents/98765/", {"name": "X"}, format="json")
    assert response.status_code == 403
    assert client.get(f"{API}/queues/").status_code == 403


# ---------------------------------------------------------------------- throttling


def test_creating_attempts_is_throttled_per_user_with_retry_after(
    api: APIClient, make_user, settings, demo_data, queued_dispatch
) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "API_CREATE_THROTTLE_RATE": "2/minute"}
    assert api.post(ATTEMPTS, CALL, format="json").status_code == 202
    assert api.post(ATTEMPTS, CALL, format="json").status_code == 202
    response = api.post(ATTEMPTS, CALL, format="json")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert "throttled" in response.json()["detail"].lower()
    assert CallAttempt.objects.count() == 2
    # Reading is not throttled, and another user has their own allowance.
    assert api.get(ATTEMPTS).status_code == 200
    other = token_client(make_user("clicktoagent.place_call"))
    assert other.post(ATTEMPTS, CALL, format="json").status_code == 202


def test_throttling_can_be_turned_off(api: APIClient, settings, demo_data, queued_dispatch):
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "API_CREATE_THROTTLE_RATE": None}
    for _ in range(3):
        assert api.post(ATTEMPTS, CALL, format="json").status_code == 202


# ---------------------------------------------------------------------- query counts


def _attempts(demo_data: dict[str, Any], count: int, requested_by: Any) -> None:
    first = CallAttempt.objects.create(
        requested_by=requested_by,
        queue=demo_data["sales"],
        agent=demo_data["dana"],
        phone_to_call="3125550123",
        record=0,
        warning=1,
        source="api",
        status="failed",
    )
    CallAttempt.objects.bulk_create(
        CallAttempt(
            queue=demo_data["sales" if i % 2 else "support"],
            agent=demo_data["sam" if i % 2 else "casey"],
            phone_to_call="3125550123",
            record=0,
            warning=1,
            source="api",
            retry_of=first,
            requested_by=requested_by,
        )
        for i in range(count - 1)
    )


# Token lookup with its user, the user's and the group permissions, the page.
LIST_QUERIES = 4


@pytest.mark.parametrize("count", [1, 20])
def test_the_attempt_list_costs_the_same_queries_for_any_page_size(
    api: APIClient, caller, demo_data, django_assert_num_queries, count: int
) -> None:
    _attempts(demo_data, count, requested_by=caller)
    with django_assert_num_queries(LIST_QUERIES):
        response = api.get(ATTEMPTS)
    assert len(response.json()["results"]) == count


@pytest.mark.parametrize("count", [1, 20])
def test_the_agent_list_costs_the_same_queries_for_any_page_size(
    admin_api: APIClient, db, django_assert_num_queries, count: int
) -> None:
    from clicktoagent.models import Agent, Queue

    queues = [Queue.objects.create(queue_id=f"q{i}") for i in range(3)]
    for i in range(count):
        Agent.objects.create(agent_id=f"a{i:03}").queues.set(queues)
    # Token + user, permissions (user, group), the page, the queues of the page.
    with django_assert_num_queries(LIST_QUERIES + 1):
        response = admin_api.get(f"{API}/agents/")
    assert len(response.json()["results"]) == count
    assert response.json()["results"][0]["queue_ids"] == ["q0", "q1", "q2"]


@pytest.mark.parametrize("count", [1, 20])
def test_the_queue_list_costs_the_same_queries_for_any_page_size(
    admin_api: APIClient, db, django_assert_num_queries, count: int
) -> None:
    from clicktoagent.models import Queue

    for i in range(count):
        Queue.objects.create(queue_id=f"q{i:03}", opening_hours=["mon-fri 09:00-17:00"])
    with django_assert_num_queries(LIST_QUERIES):
        response = admin_api.get(f"{API}/queues/")
    assert len(response.json()["results"]) == count


def test_retrieving_an_attempt_costs_a_fixed_number_of_queries(
    api: APIClient, caller, demo_data, django_assert_num_queries
) -> None:
    _attempts(demo_data, 2, requested_by=caller)
    pk = CallAttempt.objects.filter(retry_of__isnull=False).get().pk
    with django_assert_num_queries(LIST_QUERIES):
        response = api.get(f"{ATTEMPTS}{pk}/")
    assert response.json()["retry_of"] is not None


# ---------------------------------------------------------------------- secrets


@pytest.mark.django_db(transaction=True)
def test_no_secret_appears_in_any_response(
    admin_api: APIClient, sandbox: SandboxServer, demo_data
) -> None:
    secrets = ("sandbox-access-key", "sandbox-secret-access-key")
    bodies = []
    for phone in ("3125550123", "3125550166", "3125550168", "3125550169"):
        bodies.append(admin_api.post(ATTEMPTS, {**CALL, "phone_to_call": phone}, format="json"))
    sandbox.add_fault("http_429", count=5, seconds=0)
    bodies.append(admin_api.post(ATTEMPTS, {**CALL, "phone_to_call": "3125550124"}, format="json"))
    bodies.append(admin_api.post(ATTEMPTS, {**CALL, "queue_id": "nope"}, format="json"))
    bodies.append(admin_api.get(ATTEMPTS))
    bodies.append(admin_api.get(f"{API}/agents/"))
    bodies.append(admin_api.get(f"{API}/schema/"))
    statuses = [body.json()["status"] for body in bodies[:5]]
    assert statuses == ["placed", "unknown", "unknown", "unknown", "failed"]
    for response in bodies:
        text = response.content.decode()
        for secret in secrets:
            assert secret not in text
        assert "access_key" not in text.replace("ACCESS_KEY", "")


# ---------------------------------------------------------------------- whose attempts


def _attempt_of(user: Any, demo_data: dict[str, Any], **fields: Any) -> CallAttempt:
    values: dict[str, Any] = {
        "queue": demo_data["sales"],
        "agent": demo_data["dana"],
        "phone_to_call": "3125550123",
        "record": 0,
        "warning": 1,
        "source": CallAttempt.Source.API,
        "requested_by": user,
        **fields,
    }
    return CallAttempt.objects.create(**values)


@pytest.fixture
def others_attempts(make_user, demo_data) -> dict[str, CallAttempt]:
    """A failed and a pending attempt that user B requested."""
    bea = make_user("clicktoagent.place_call", username="bea")
    return {
        "failed": _attempt_of(bea, demo_data, status="failed", phone_to_call="3125550124"),
        "pending": _attempt_of(bea, demo_data, phone_to_call="3125550125"),
    }


def test_with_place_call_alone_a_user_sees_and_acts_only_on_their_own_attempts(
    api: APIClient, caller, others_attempts, sandbox: SandboxServer, demo_data
) -> None:
    own = _attempt_of(caller, demo_data, status="failed")
    listed = [a["id"] for a in api.get(ATTEMPTS).json()["results"]]
    assert listed == [own.pk]
    assert api.get(ATTEMPTS, {"phone_to_call": "3125550124"}).json()["results"] == []
    for attempt in others_attempts.values():
        # Not found, exactly like an id that does not exist: nothing says it does.
        for response in (
            api.get(f"{ATTEMPTS}{attempt.pk}/"),
            api.post(f"{ATTEMPTS}{attempt.pk}/retry/", {}, format="json"),
            api.post(f"{ATTEMPTS}{attempt.pk}/cancel/", {}, format="json"),
        ):
            assert response.status_code == 404
            assert response.json() == {"detail": "No CallAttempt matches the given query."}
    assert sandbox.requests() == []
    assert CallAttempt.objects.filter(retry_of__isnull=False).count() == 0
    others_attempts["pending"].refresh_from_db()
    assert others_attempts["pending"].status == CallAttempt.Status.PENDING
    # Their own attempt they may retry (queued: dispatch runs once the test commits).
    retry = api.post(f"{ATTEMPTS}{own.pk}/retry/", {}, format="json")
    assert retry.status_code == 202 and retry.json()["retry_of"] == own.pk


def test_view_permission_shows_every_attempt_but_allows_no_action_on_others(
    make_user, others_attempts, sandbox: SandboxServer, demo_data
) -> None:
    client = token_client(make_user("clicktoagent.place_call", "clicktoagent.view_callattempt"))
    listed = {a["id"] for a in client.get(ATTEMPTS).json()["results"]}
    assert listed == {a.pk for a in others_attempts.values()}
    failed, pending = others_attempts["failed"], others_attempts["pending"]
    assert client.get(f"{ATTEMPTS}{failed.pk}/").status_code == 200
    retry = client.post(f"{ATTEMPTS}{failed.pk}/retry/", {}, format="json")
    cancel = client.post(f"{ATTEMPTS}{pending.pk}/cancel/", {}, format="json")
    for response in (retry, cancel):
        assert response.status_code == 403
        assert "clicktoagent.change_callattempt" in response.json()["detail"]
    assert sandbox.requests() == []
    pending.refresh_from_db()
    assert pending.status == CallAttempt.Status.PENDING


def test_change_permission_allows_retry_and_cancel_of_any_attempt(
    make_user, others_attempts, demo_data
) -> None:
    manager = make_user("clicktoagent.place_call", "clicktoagent.change_callattempt")
    client = token_client(manager)
    assert len(client.get(ATTEMPTS).json()["results"]) == 2
    failed, pending = others_attempts["failed"], others_attempts["pending"]
    retry = client.post(f"{ATTEMPTS}{failed.pk}/retry/", {}, format="json")
    assert retry.status_code == 202 and retry.json()["retry_of"] == failed.pk
    assert CallAttempt.objects.get(pk=retry.json()["id"]).requested_by == manager
    cancel = client.post(f"{ATTEMPTS}{pending.pk}/cancel/", {}, format="json")
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"


def test_without_place_call_nobody_acts_even_with_change_permission(
    make_user, others_attempts
) -> None:
    client = token_client(make_user("clicktoagent.change_callattempt"))
    assert len(client.get(ATTEMPTS).json()["results"]) == 2
    failed = others_attempts["failed"]
    assert client.post(f"{ATTEMPTS}{failed.pk}/retry/", {}, format="json").status_code == 403


# ---------------------------------------------------------------------- unknown retries


@pytest.mark.django_db(transaction=True)
def test_retrying_an_unknown_attempt_needs_confirm_unknown(
    api: APIClient, sandbox: SandboxServer, demo_data
) -> None:
    sandbox.add_fault("drop")
    unknown = api.post(ATTEMPTS, CALL, format="json").json()
    assert unknown["status"] == "unknown"
    sent = len(sandbox.requests())
    for body in ({}, {"confirm_unknown": False}):
        refused = api.post(f"{ATTEMPTS}{unknown['id']}/retry/", body, format="json")
        assert refused.status_code == 409
        detail = refused.json()["detail"]
        assert "may already have been called" in detail
        assert '{"confirm_unknown": true}' in detail
    assert len(sandbox.requests()) == sent
    assert CallAttempt.objects.count() == 1
    confirmed = api.post(
        f"{ATTEMPTS}{unknown['id']}/retry/", {"confirm_unknown": True}, format="json"
    )
    assert confirmed.status_code == 201
    assert confirmed.json()["retry_of"] == unknown["id"]
    assert len(sandbox.requests()) == sent + 1
    # Repeating it (confirmed or not) returns the same retry and dials nobody.
    again = api.post(f"{ATTEMPTS}{unknown['id']}/retry/", {}, format="json")
    assert again.status_code == 200 and again.json()["id"] == confirmed.json()["id"]
    assert len(sandbox.requests()) == sent + 1


def test_confirm_unknown_must_be_a_boolean(api: APIClient, caller, demo_data) -> None:
    unknown = _attempt_of(caller, demo_data, status="unknown")
    response = api.post(
        f"{ATTEMPTS}{unknown.pk}/retry/", {"confirm_unknown": "perhaps"}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["confirm_unknown"]


# ---------------------------------------------------------------------- idempotency keys


@pytest.mark.django_db(transaction=True)
def test_an_idempotency_conflict_names_only_the_callers_own_key(
    api: APIClient, caller, sandbox: SandboxServer, demo_data
) -> None:
    first = api.post(ATTEMPTS, CALL, format="json", headers={"Idempotency-Key": "order-17"})
    response = api.post(
        ATTEMPTS, {**CALL, "warning": 0}, format="json", headers={"Idempotency-Key": "order-17"}
    )
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert detail == (
        "Idempotency-Key 'order-17' was already used for a different request (call attempt "
        f"{first.json()['id']}); use a new key for a new call."
    )
    assert "api:" not in detail and f"{caller.pk}:" not in detail


# ---------------------------------------------------------------------- shared limit


@pytest.mark.django_db(transaction=True)
def test_the_api_limit_is_kept_in_the_shared_store_not_in_process_memory(
    api: APIClient, caller, settings, demo_data, queued_dispatch
) -> None:
    from clicktoagent.models import ThrottleCounter

    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "API_CREATE_THROTTLE_RATE": "2/minute"}
    assert api.post(ATTEMPTS, CALL, format="json").status_code == 202
    (counter,) = ThrottleCounter.objects.all()
    assert counter.hits == 1 and counter.key.endswith(f":calls:user:{caller.pk}")
    assert api.post(ATTEMPTS, CALL, format="json").status_code == 202
    response = api.post(ATTEMPTS, CALL, format="json")
    assert response.status_code == 429
    assert response.json()["detail"] == (
        "Request was throttled: each user may place 2 calls per minute, through the API and "
        "the call button together (CLICKTOAGENT['API_CREATE_THROTTLE_RATE'] is '2/minute'). "
        f"Expected available in {response['Retry-After']} seconds."
    )
