"""The do-not-call list through the API: list, add, remove, permissions, throttle."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from clicktoagent.models import DoNotCallEntry

from .conftest import API, token_client

DNC = f"{API}/do-not-call/"
VIEW = "clicktoagent.view_donotcallentry"
ADD = "clicktoagent.add_donotcallentry"
DELETE = "clicktoagent.delete_donotcallentry"

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(make_user):
    return make_user(VIEW, ADD, DELETE, username="dnc-manager")


@pytest.fixture
def dnc_api(manager) -> APIClient:
    return token_client(manager)


def test_add_a_number_as_people_type_it(dnc_api: APIClient) -> None:
    response = dnc_api.post(
        DNC, {"phone_number": "(312) 555-0123", "reason": "Asked on the phone"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    entry = DoNotCallEntry.objects.get()
    assert body == {
        "id": entry.pk,
        "phone_number": "+13125550123",
        "reason": "Asked on the phone",
        "source": "api",
        "added_by": "dnc-manager",
        "added_at": body["added_at"],
    }
    assert entry.added_by is not None and entry.added_by.get_username() == "dnc-manager"


def test_a_premium_rate_number_may_be_listed(dnc_api: APIClient) -> None:
    response = dnc_api.post(DNC, {"phone_number": "1-900-555-0123"}, format="json")
    assert response.status_code == 201
    assert response.json()["phone_number"] == "+19005550123"
    assert response.json()["reason"] == ""


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"phone_number": "555-01"}, "phone_number", "is not a valid phone number"),
        ({"phone_number": ""}, "phone_number", "may not be blank"),
        ({}, "phone_number", "required"),
        ({"phone_number": "+1 876 927 1234"}, "phone_number", "region JM"),
        ({"phone_number": "3125550123", "reason": "x" * 501}, "reason", "500 characters"),
        ({"phone_number": "3" * 65}, "phone_number", "64 characters"),
    ],
)
def test_bad_input_is_400_naming_the_field(
    dnc_api: APIClient, body: dict[str, Any], field: str, fragment: str
) -> None:
    response = dnc_api.post(DNC, body, format="json")
    assert response.status_code == 400
    assert fragment in " ".join(response.json()[field])
    assert not DoNotCallEntry.objects.exists()


def test_a_number_already_listed_is_409_and_unchanged(dnc_api: APIClient) -> None:
    first = dnc_api.post(DNC, {"phone_number": "3125550123", "reason": "first"}, format="json")
    again = dnc_api.post(
        DNC, {"phone_number": "+1 (312) 555-0123", "reason": "second"}, format="json"
    )
    assert again.status_code == 409
    assert again.json()["detail"].startswith(
        f"+13125550123 is already on the do-not-call list (entry {first.json()['id']}"
    )
    assert DoNotCallEntry.objects.get().reason == "first"


def test_list_newest_first_and_delete(dnc_api: APIClient) -> None:
    ids = [
        dnc_api.post(DNC, {"phone_number": f"312555010{i}"}, format="json").json()["id"]
        for i in range(3)
    ]
    listed = dnc_api.get(DNC).json()
    assert [entry["id"] for entry in listed["results"]] == ids[::-1]
    assert listed["results"][0]["phone_number"] == "+13125550102"
    assert dnc_api.delete(f"{DNC}{ids[1]}/").status_code == 204
    assert set(DoNotCallEntry.objects.values_list("pk", flat=True)) == {ids[0], ids[2]}
    assert dnc_api.delete(f"{DNC}{ids[1]}/").status_code == 404
    assert dnc_api.delete(f"{DNC}not-a-number/").status_code == 404


def test_list_pages(dnc_api: APIClient) -> None:
    DoNotCallEntry.objects.bulk_create(
        DoNotCallEntry(phone_number=f"+1312555{i:04d}") for i in range(5)
    )
    page = dnc_api.get(DNC, {"page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"]
    assert dnc_api.get(DNC, {"cursor": "bad"}).status_code == 400


def test_an_entry_cannot_be_read_or_changed_one_by_one(dnc_api: APIClient) -> None:
    pk = dnc_api.post(DNC, {"phone_number": "3125550123"}, format="json").json()["id"]
    assert dnc_api.get(f"{DNC}{pk}/").status_code == 405
    # Without change_donotcallentry (which nothing grants use of) 403, else 405.
    assert dnc_api.patch(f"{DNC}{pk}/", {"reason": "x"}, format="json").status_code == 403
    assert DoNotCallEntry.objects.get().reason == ""


# ------------------------------------------------------------------- permissions


@pytest.mark.parametrize(
    ("perms", "allowed"),
    [
        ((VIEW,), {"get"}),
        ((ADD,), {"post"}),
        ((DELETE,), {"delete"}),
        (("clicktoagent.place_call", "clicktoagent.view_callattempt"), set()),
    ],
)
def test_each_operation_needs_its_model_permission(
    make_user, perms: tuple[str, ...], allowed: set[str]
) -> None:
    entry = DoNotCallEntry.objects.create(phone_number="+13125550100")
    client = token_client(make_user(*perms))
    responses = {
        "get": client.get(DNC),
        "post": client.post(DNC, {"phone_number": "3125550123"}, format="json"),
        "delete": client.delete(f"{DNC}{entry.pk}/"),
    }
    for method, response in responses.items():
        expected = {"get": 200, "post": 201, "delete": 204}[method] if method in allowed else 403
        assert response.status_code == expected, (method, response.content)
    assert DoNotCallEntry.objects.filter(pk=entry.pk).exists() == ("delete" not in allowed)


def test_unauthenticated_is_401() -> None:
    assert APIClient().get(DNC).status_code == 401
    assert APIClient().post(DNC, {"phone_number": "3125550123"}, format="json").status_code == 401


# ------------------------------------------------------------------- throttle, limits


def test_adds_and_removals_are_throttled_per_user(dnc_api: APIClient, make_user, settings) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "DNC_API_THROTTLE_RATE": "3/minute"}
    first = dnc_api.post(DNC, {"phone_number": "3125550100"}, format="json").json()["id"]
    assert dnc_api.post(DNC, {"phone_number": "3125550101"}, format="json").status_code == 201
    assert dnc_api.delete(f"{DNC}{first}/").status_code == 204
    throttled = dnc_api.post(DNC, {"phone_number": "3125550102"}, format="json")
    assert throttled.status_code == 429
    assert "3 do-not-call changes per minute" in throttled.json()["detail"]
    assert "DNC_API_THROTTLE_RATE" in throttled.json()["detail"]
    assert int(throttled["Retry-After"]) > 0
    assert dnc_api.get(DNC).status_code == 200  # reads are not counted
    other = token_client(make_user(ADD))
    assert other.post(DNC, {"phone_number": "3125550102"}, format="json").status_code == 201


def test_a_large_body_is_413(dnc_api: APIClient, settings) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "API_MAX_BODY_BYTES": 100}
    response = dnc_api.post(DNC, {"phone_number": "3125550123", "reason": "x" * 200}, format="json")
    assert response.status_code == 413
    assert not DoNotCallEntry.objects.exists()


# Token lookup with its user, the user's and the group permissions, the page (with who
# added each entry).
LIST_QUERIES = 4


@pytest.mark.parametrize("count", [1, 30])
def test_the_list_costs_the_same_queries_for_any_page_size(
    dnc_api: APIClient, manager, django_assert_num_queries, count: int
) -> None:
    DoNotCallEntry.objects.bulk_create(
        DoNotCallEntry(phone_number=f"+1312555{i:04d}", added_by=manager) for i in range(count)
    )
    with django_assert_num_queries(LIST_QUERIES):
        response = dnc_api.get(DNC)
    assert len(response.json()["results"]) == count
    assert {entry["added_by"] for entry in response.json()["results"]} == {"dnc-manager"}
