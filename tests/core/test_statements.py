"""Statements written once per database and read back as the ORM reads them
(``clicktoagent/statements.py``), and the directory lookup of every new call built on
them. Run on SQLite and, in the PostgreSQL legs, on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext

from clicktoagent import statements
from clicktoagent.calls import request
from clicktoagent.models import Agent, Queue

pytestmark = pytest.mark.django_db


def _lookup(queue_id: str, agent_id: str) -> list[Model] | None:
    return request._ACTIVE_MEMBERSHIP.fetch_one([queue_id, True, agent_id, True])


def _same_as_the_orm(made: Model, expected: Model) -> None:
    assert type(made) is type(expected)
    for field in type(expected)._meta.concrete_fields:
        assert getattr(made, field.attname) == getattr(expected, field.attname), field.name
    assert made._state.adding is False and made._state.db == "default"


def test_the_membership_lookup_reads_queue_and_agent_as_the_orm_would(demo_data: Any) -> None:
    user = get_user_model().objects.create_user("dana")
    Queue.objects.filter(queue_id="12345").update(
        opening_hours=["mon-fri 09:00-17:30"],
        closed_dates=["2026-12-25"],
        timezone="America/Chicago",
    )
    Agent.objects.filter(agent_id="98765").update(user=user)
    with CaptureQueriesContext(connection) as queries:
        found = _lookup("12345", "98765")
    assert len(queries) == 1
    assert found is not None
    queue, agent = found
    _same_as_the_orm(queue, Queue.objects.get(queue_id="12345"))
    _same_as_the_orm(agent, Agent.objects.get(agent_id="98765"))
    # JSON decoded, booleans and dates converted, the foreign key's id kept.
    assert isinstance(queue, Queue) and isinstance(agent, Agent)
    assert queue.opening_hours == ["mon-fri 09:00-17:30"]
    assert queue.closed_dates == ["2026-12-25"]
    assert queue.is_active is True and agent.is_active is True
    assert agent.user_id == user.pk
    assert queue.created_at.tzinfo is not None


@pytest.mark.parametrize(
    ("queue_id", "agent_id", "change"),
    [
        ("12345", "98765", lambda: Queue.objects.filter(queue_id="12345").update(is_active=False)),
        ("12345", "98765", lambda: Agent.objects.filter(agent_id="98765").update(is_active=False)),
        ("12345", "98767", lambda: None),  # Casey is in Support only.
        ("99999", "98765", lambda: None),
        ("12345", "11111", lambda: None),
        # Parameters, not text in the statement.
        ("12345' OR '1'='1", "98765", lambda: None),
    ],
)
def test_no_row_unless_an_active_agent_is_a_member_of_an_active_queue(
    demo_data: Any, queue_id: str, agent_id: str, change: Any
) -> None:
    assert _lookup("12345", "98765") is not None
    change()
    assert _lookup(queue_id, agent_id) is None


def test_a_statement_is_written_once_per_database(demo_data: Any) -> None:
    written: list[str] = []

    def write(using: str) -> str:
        written.append(using)
        return (
            f"SELECT {statements.select_list(using, ((Queue, 'q'),))} "
            f"FROM {statements.table(using, Queue)} q "
            f"WHERE q.{statements.column(using, Queue, 'queue_id')} = %s"
        )

    statement = statements.Statement(write, parts=((Queue, "q"),))
    first = statement.fetch_one(["12345"])
    again = statement.fetch_one(["12346"])
    assert statement.fetch_one(["00000"]) is None
    assert written == ["default"]
    assert first is not None and again is not None
    assert [q.queue_id for q in first + again] == ["12345", "12346"]  # type: ignore[attr-defined]
