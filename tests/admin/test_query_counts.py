"""Every admin list costs the same number of queries whatever the number of rows shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clicktoagent.models import (
    Agent,
    CallAttempt,
    CrmUserMapping,
    CrmWriteback,
    DoNotCallEntry,
    Queue,
    WebhookEvent,
)
from config.demo.models import Contact

pytestmark = pytest.mark.django_db


def _queue(i: int) -> Any:
    return Queue.objects.create(queue_id=f"q{i:03}", name=f"Queue {i}")


def _agent(i: int) -> Any:
    agent = Agent.objects.create(agent_id=f"a{i:03}", name=f"Agent {i}")
    agent.queues.add(Queue.objects.get_or_create(queue_id="shared")[0])
    return agent


def _attempt(i: int) -> Any:
    queue = Queue.objects.get_or_create(queue_id="shared")[0]
    agent = Agent.objects.get_or_create(agent_id="shared")[0]
    contact = Contact.objects.create(name=f"Contact {i}", phone="3125550123")
    attempt = CallAttempt.objects.create(
        queue=queue,
        agent=agent,
        phone_to_call=f"3125550{i:03}",
        record=0,
        warning=1,
        source="api",
        contact=contact,
        status=CallAttempt.Status.BLOCKED if i % 2 else CallAttempt.Status.PLACED,
        violations=[{"rule": "do_not_call", "message": "listed", "next_allowed_at": None}],
    )
    return attempt


def _event(i: int) -> Any:
    event = WebhookEvent.objects.create(provider="generic", delivery_id=f"msg_{i}")
    event.attempts.add(_attempt(1000 + i))
    return event


def _mapping(i: int) -> Any:
    return CrmUserMapping.objects.create(
        provider="hubspot", crm_user_id=str(i), agent=Agent.objects.get_or_create(agent_id="m")[0]
    )


def _writeback(i: int) -> Any:
    return CrmWriteback.objects.create(
        attempt=_attempt(2000 + i), provider="hubspot", object_type="contact", object_id=str(i)
    )


def _entry(i: int) -> Any:
    return DoNotCallEntry.objects.create(phone_number=f"+1312555{i:04}", reason="asked")


def _contact(i: int) -> Any:
    return Contact.objects.create(name=f"Contact {i}", phone=f"312555{i:04}")


LISTS: dict[str, Callable[[int], Any]] = {
    "/admin/clicktoagent/queue/": _queue,
    "/admin/clicktoagent/agent/": _agent,
    "/admin/clicktoagent/callattempt/": _attempt,
    "/admin/clicktoagent/webhookevent/": _event,
    "/admin/clicktoagent/crmusermapping/": _mapping,
    "/admin/clicktoagent/crmwriteback/": _writeback,
    "/admin/clicktoagent/donotcallentry/": _entry,
    "/admin/demo/contact/": _contact,
}


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


@pytest.mark.parametrize("url", list(LISTS))
def test_an_admin_list_costs_the_same_queries_for_1_and_25_rows(url: str) -> None:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="x"))
    make = LISTS[url]
    make(0)
    _queries(client, url)  # warm caches (content types, sessions)
    one = _queries(client, url)
    for i in range(1, 25):
        make(i)
    assert _queries(client, url) == one, f"{url}: the number of queries grows with the rows"
