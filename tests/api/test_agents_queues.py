"""Managing agents (with their queue memberships) and queues through the REST API."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from clicktoagent.models import Agent, Queue

from .conftest import API

AGENTS = f"{API}/agents/"
QUEUES = f"{API}/queues/"

pytestmark = pytest.mark.django_db


def test_list_and_retrieve_agents_with_their_queues(admin_api: APIClient, demo_data) -> None:
    body = admin_api.get(AGENTS).json()
    assert [row["agent_id"] for row in body["results"]] == ["98765", "98766", "98767"]
    dana = admin_api.get(f"{AGENTS}98765/").json()
    assert dana["queue_ids"] == ["12345"]
    assert dana["name"] == "Dana Demo"
    assert dana["phone"] == "3125550101"
    assert dana["is_active"] is True
    assert set(dana) == {
        "agent_id",
        "name",
        "phone",
        "is_active",
        "queue_ids",
        "created_at",
        "updated_at",
    }
    assert admin_api.get(f"{AGENTS}00000/").status_code == 404


def test_create_an_agent_in_queues(admin_api: APIClient, demo_data) -> None:
    response = admin_api.post(
        AGENTS,
        {
            "agent_id": "98800",
            "name": "Robin",
            "phone": "(312) 555-0104",
            "queue_ids": ["12345", "12346"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["agent_id"] == "98800"
    assert body["phone"] == "3125550104"
    assert sorted(body["queue_ids"]) == ["12345", "12346"]
    agent = Agent.objects.get(agent_id="98800")
    assert sorted(agent.queues.values_list("queue_id", flat=True)) == ["12345", "12346"]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"agent_id": "98765"}, {"agent_id": ["Agent with this Agent ID already exists."]}),
        (
            {"agent_id": "1", "queue_ids": ["12345", "nope"]},
            {"queue_ids": ["Unknown queue_id 'nope'."]},
        ),
        (
            {"agent_id": "1", "phone": "12"},
            {
                "phone": [
                    "'12' is not a valid phone number (check the area code and the number "
                    "of digits)."
                ]
            },
        ),
        ({"name": "x"}, {"agent_id": ["This field is required."]}),
        (
            {"agent_id": "1", "queue_ids": "12345"},
            {"queue_ids": ['Expected a list of items but got type "str".']},
        ),
    ],
)
def test_bad_agent_input_is_400_and_nothing_is_stored(
    admin_api: APIClient, demo_data, body, errors
) -> None:
    response = admin_api.post(AGENTS, body, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert Agent.objects.count() == 3


def test_text_that_cannot_be_stored_is_400(admin_api: APIClient, demo_data) -> None:
    # A lone surrogate is valid in a JSON escape but cannot be stored as UTF-8.
    body = '{"agent_id": "bad\\ud800"}'
    response = admin_api.post(AGENTS, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"agent_id": ["Surrogate characters are not allowed: U+D800."]}


def test_update_an_agent_replaces_its_queues(admin_api: APIClient, demo_data) -> None:
    response = admin_api.put(
        f"{AGENTS}98765/",
        {"agent_id": "98765", "name": "Dana D.", "queue_ids": ["12346"]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "Dana D."
    assert response.json()["queue_ids"] == ["12346"]
    assert response.json()["phone"] == "3125550101"  # not sent, kept


def test_partial_update_an_agent(admin_api: APIClient, demo_data) -> None:
    response = admin_api.patch(f"{AGENTS}98766/", {"is_active": False}, format="json")
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert response.json()["queue_ids"] == ["12345"]  # memberships kept
    assert Agent.objects.get(agent_id="98766").is_active is False


def test_update_refuses_an_agent_id_already_taken(admin_api: APIClient, demo_data) -> None:
    response = admin_api.patch(f"{AGENTS}98766/", {"agent_id": "98765"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"agent_id": ["Agent with this Agent ID already exists."]}
    assert admin_api.patch(f"{AGENTS}00000/", {"name": "x"}, format="json").status_code == 404


def test_agents_and_queues_cannot_be_deleted(demo_data) -> None:
    from django.contrib.auth.models import User

    from .conftest import token_client

    superuser = token_client(User.objects.create_superuser("root", password="x"))
    assert superuser.delete(f"{AGENTS}98765/").status_code == 405
    assert superuser.delete(f"{QUEUES}12345/").status_code == 405
    assert Agent.objects.filter(agent_id="98765").exists()


def test_queues_crud(admin_api: APIClient, demo_data) -> None:
    listed = admin_api.get(QUEUES).json()["results"]
    assert [row["queue_id"] for row in listed] == ["12345", "12346"]
    assert set(listed[0]) == {
        "queue_id",
        "name",
        "is_active",
        "timezone",
        "opening_hours",
        "closed_dates",
        "created_at",
        "updated_at",
    }
    created = admin_api.post(QUEUES, {"queue_id": "12347", "name": "Renewals"}, format="json")
    assert created.status_code == 201
    assert created.json()["name"] == "Renewals" and created.json()["is_active"] is True
    assert admin_api.get(f"{QUEUES}12347/").json()["name"] == "Renewals"
    changed = admin_api.patch(f"{QUEUES}12347/", {"is_active": False}, format="json")
    assert changed.json()["is_active"] is False
    replaced = admin_api.put(f"{QUEUES}12347/", {"queue_id": "12348", "name": "R"}, format="json")
    assert replaced.status_code == 200
    assert Queue.objects.filter(queue_id="12348", name="R").exists()
    duplicate = admin_api.post(QUEUES, {"queue_id": "12345"}, format="json")
    assert duplicate.status_code == 400
    assert duplicate.json() == {"queue_id": ["Queue with this Queue ID already exists."]}
    assert admin_api.put(f"{QUEUES}12345/", {}, format="json").json() == {
        "queue_id": ["This field is required."]
    }
    assert admin_api.get(f"{QUEUES}nope/").status_code == 404
    nul = admin_api.get(f"{QUEUES}12%00345/")
    assert nul.status_code == 404
    assert "detail" in nul.json()


def test_queue_opening_hours_are_checked_and_stored(admin_api: APIClient, demo_data) -> None:
    hours = {
        "timezone": "America/Chicago",
        "opening_hours": ["mon-fri 09:00-17:30", "sat 10:00-14:00"],
        "closed_dates": ["2026-12-25"],
    }
    changed = admin_api.patch(f"{QUEUES}12345/", hours, format="json")
    assert changed.status_code == 200, changed.json()
    queue = Queue.objects.get(queue_id="12345")
    assert queue.timezone == "America/Chicago"
    assert queue.opening_hours == ["mon-fri 09:00-17:30", "sat 10:00-14:00"]
    assert queue.closed_dates == ["2026-12-25"]

    for field, value, says in (
        ("opening_hours", ["mon-fri 17:00-09:00"], "ends before it starts"),
        ("opening_hours", ["weekdays 09:00-17:00"], "not a day"),
        ("closed_dates", ["25/12/2026"], "not a date"),
        ("timezone", "Mars/Olympus", "not an IANA time zone"),
    ):
        refused = admin_api.patch(f"{QUEUES}12345/", {field: value}, format="json")
        assert refused.status_code == 400
        assert says in " ".join(refused.json()[field])
    assert Queue.objects.get(queue_id="12345").opening_hours == hours["opening_hours"]
