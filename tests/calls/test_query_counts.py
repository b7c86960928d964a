"""The queries one call costs, pinned: creating and sending it through the service, and
a worker sending a stored one. Counts are deterministic; a change that adds a query to
the path every call takes fails here."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from clicktoagent.calls.services import call_attempt_create
from clicktoagent.dispatch.tasks import call_attempt_dispatch
from clicktoagent.models import CallAttempt

pytestmark = [pytest.mark.safe_calling, pytest.mark.django_db(transaction=True)]

MORNING = datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("America/Chicago"))
# BEGIN and COMMIT count as queries. Creating: one query for queue, agent and
# membership; [the idempotency key]; BEGIN; the do-not-call lookup; the INSERT of the
# attempt, already claimed; COMMIT; the UPDATE with the outcome. Illinois has no daily
# cap, so neither the number lock nor the count is needed.
CREATE = 6
# A worker: the attempt with its queue and agent; the do-not-call lookup; the claim; the
# UPDATE with the outcome.
WORKER = 4
# A Florida number (a daily cap of 3): the count of its recent attempts, and on
# PostgreSQL the advisory lock on the number it is counted under.
CAPPED = {"sqlite": CREATE + 1, "postgresql": CREATE + 2}


def _create(key: str | None = None, *, dispatch: bool = True) -> CallAttempt:
    return call_attempt_create(
        queue_id="12345",
        agent_id="98765",
        phone_to_call="3125550123",
        source=CallAttempt.Source.API,
        idempotency_key=key,
        dispatch=dispatch,
    )


def _count(work: Any) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as queries:
        result = work()
    return len(queries), result


@pytest.mark.parametrize("key", [None, "order-77"])
def test_create_and_send_with_every_rule_on(sandbox, demo_data, key: str | None) -> None:
    with time_machine.travel(MORNING, tick=True):
        _create("warm-up")  # content types and the rules data are read once per process
        count, attempt = _count(lambda: _create(key))
    assert attempt.status == CallAttempt.Status.PLACED and attempt.sid
    assert count == CREATE + (1 if key else 0)


@pytest.mark.parametrize("key", [None, "key-1"])
def test_create_and_send_with_no_rules(sandbox, demo_data, settings, key) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "SAFE_CALLING_RULES": ()}
    _create("warm-up")
    count, attempt = _count(lambda: _create(key))
    assert attempt.status == CallAttempt.Status.PLACED
    # No do-not-call lookup, and no transaction around the INSERT (no rule counts under
    # a lock): queue, agent and membership; [the key]; the INSERT; the outcome.
    assert count == CREATE - 3 + (1 if key else 0)


def test_with_no_rules_inside_a_callers_transaction_the_insert_is_in_a_savepoint(
    sandbox, demo_data, settings
) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "SAFE_CALLING_RULES": ()}
    with transaction.atomic():
        count, attempt = _count(lambda: _create(dispatch=False))
    assert attempt.status == CallAttempt.Status.PENDING
    # Queue, agent and membership; SAVEPOINT, INSERT, RELEASE.
    assert count == 4


def test_a_worker_sends_a_stored_attempt(sandbox, demo_data) -> None:
    with time_machine.travel(MORNING, tick=True):
        _create("warm-up")
        stored = _create(dispatch=False)
        count, attempt = _count(lambda: call_attempt_dispatch(attempt_id=stored.pk))
    assert attempt.status == CallAttempt.Status.PLACED
    assert count == WORKER


def test_a_number_with_a_daily_cap_costs_the_count(sandbox, demo_data) -> None:
    with time_machine.travel(MORNING, tick=True):
        _create("warm-up")
        count, attempt = _count(
            lambda: call_attempt_create(
                queue_id="12345",
                agent_id="98765",
                phone_to_call="3055550123",
                source=CallAttempt.Source.API,
            )
        )
    assert attempt.status == CallAttempt.Status.PLACED
    assert count == CAPPED[connection.vendor]
