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


def _attempts(demo_data: dict[str, Any], count: int) -> None:
    first = CallAttempt.objects.create(
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
        )
        for i in range(count - 1)
    )


# Token lookup with its user, the user's and the group permissions, the page.
LIST_QUERIES = 4


@pytest.mark.parametrize("count", [1, 20])
def test_the_attempt_list_costs_the_same_queries_for_any_page_size(
    api: APIClient, demo_data, django_assert_num_queries, count: int
) -> None:
    _attempts(demo_data, count)
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


def test_retrieving_an_attempt_costs_a_fixed_number_of_queries(
    api: APIClient, demo_data, django_assert_num_queries
) -> None:
    _attempts(demo_data, 2)
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
