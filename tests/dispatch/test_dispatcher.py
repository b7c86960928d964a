"""The Redis dispatch queue and the dispatcher's loop, in this process (real Redis, the
emulator on loopback); the same guarantees with real processes are in tests/scale."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from clicktoagent.checks import check_settings
from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.dispatch.dispatcher import Dispatcher
from clicktoagent.dispatch.redis_queue import (
    dispatch_queue_depth,
    dispatch_queue_pop,
    dispatch_queue_push,
)
from clicktoagent.models import CallAttempt
from clicktoagent.services import call_attempt_enqueue, call_attempt_reconcile
from tests.conftest import REDIS_URL, create_call

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallAttempt.Status
READY = "clicktoagent:dispatch:default:ready"
DEFERRED = "clicktoagent:dispatch:default:deferred"


@pytest.fixture
def queue_on(settings: Any, sandbox: SandboxServer, redis_client: Any) -> Any:
    """Attempts go through the dispatch queue on Redis; returns the Redis client."""
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "DISPATCH_QUEUE": REDIS_URL}
    return redis_client


def test_a_new_attempt_waits_on_the_queue_then_the_dispatcher_places_it(
    queue_on: Any, sandbox: SandboxServer, demo_data: Any
) -> None:
    attempt = create_call()
    # Not sent inside the request, not a task: its id waits on the list.
    assert attempt.status == Status.PENDING and attempt.tries == 0
    assert queue_on.lrange(READY, 0, -1) == [str(attempt.pk).encode()]
    assert sandbox.requests() == []

    assert Dispatcher(burst=True).run() == 1
    attempt.refresh_from_db()
    assert attempt.status == Status.PLACED
    (request,) = sandbox.requests()
    assert attempt.sid == request["sid"]
    assert dispatch_queue_depth() == {"queued": 0, "deferred": 0}


def test_an_id_delivered_many_times_dials_once(
    queue_on: Any, sandbox: SandboxServer, demo_data: Any
) -> None:
    attempt = create_call()
    for _ in range(4):
        call_attempt_enqueue(attempt_id=attempt.pk)
    assert Dispatcher(burst=True).run() == 5
    attempt.refresh_from_db()
    assert attempt.status == Status.PLACED and attempt.tries == 1
    assert len(sandbox.requests()) == 1


def test_forged_entries_dial_nothing_and_the_loop_goes_on(
    queue_on: Any, sandbox: SandboxServer, demo_data: Any, caplog: pytest.LogCaptureFixture
) -> None:
    placed = create_call()
    Dispatcher(burst=True).run()
    placed.refresh_from_db()
    assert placed.status == Status.PLACED
    cancelled = create_call(phone_to_call="3125550124")
    CallAttempt.objects.filter(pk=cancelled.pk).update(status=Status.CANCELLED)
    queue_on.flushdb()
    # Anyone who can write to this Redis: junk, an id of nothing, ids of finished attempts.
    queue_on.lpush(READY, "DROP TABLE", "-1", "9" * 40, 987654321, placed.pk, cancelled.pk)
    real = create_call(phone_to_call="3125550125")
    with caplog.at_level(logging.WARNING, logger="clicktoagent"):
        Dispatcher(burst=True).run()
    assert len(sandbox.requests()) == 2  # the first call and the real one, nothing else
    real.refresh_from_db()
    assert real.status == Status.PLACED
    assert CallAttempt.objects.get(pk=cancelled.pk).status == Status.CANCELLED
    messages = [r.getMessage() for r in caplog.records]
    assert sum("not an attempt id" in m for m in messages) == 3
    assert any("987654321, which does not exist" in m for m in messages)
    assert "DROP TABLE" not in "".join(messages)


def test_a_deferred_id_waits_for_its_time(
    queue_on: Any, sandbox: SandboxServer, demo_data: Any
) -> None:
    attempt = create_call(dispatch=False)
    call_attempt_enqueue(attempt_id=attempt.pk, run_after=timezone.now() + timedelta(seconds=0.6))
    assert dispatch_queue_depth() == {"queued": 0, "deferred": 1}
    assert dispatch_queue_pop() is None
    time.sleep(0.7)
    assert dispatch_queue_pop() == attempt.pk
    assert dispatch_queue_depth() == {"queued": 0, "deferred": 0}
    # A time already past goes straight onto the list.
    dispatch_queue_push(attempt.pk, run_after=timezone.now() - timedelta(seconds=5))
    assert queue_on.llen(READY) == 1


def test_a_request_that_never_left_is_deferred_not_slept_on(
    queue_on: Any, sandbox: SandboxServer, demo_data: Any, settings: Any
) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "RETRY_BACKOFF": 30.0}
    sandbox.add_fault("http_503", count=1)
    attempt = create_call()
    started = time.monotonic()
    Dispatcher(burst=True).run()
    assert time.monotonic() - started < 5
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING and attempt.tries == 1
    assert attempt.next_try_at is not None
    (member, score) = queue_on.zrange(DEFERRED, 0, -1, withscores=True)[0]
    assert int(member) == attempt.pk
    assert score == pytest.approx(attempt.next_try_at.timestamp(), abs=0.01)


def test_an_unreachable_queue_leaves_the_attempt_for_the_reconciler(
    queue_on: Any, sandbox: SandboxServer, demo_data: Any, settings: Any, caplog: Any
) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "DISPATCH_QUEUE": "redis://127.0.0.1:9/0"}
    with caplog.at_level(logging.WARNING, logger="clicktoagent"):
        attempt = create_call()
    assert attempt.status == Status.PENDING
    assert any("stays pending for the reconciler" in r.getMessage() for r in caplog.records)
    health = Client().get("/clicktoagent/health/")
    assert health.status_code == 503
    assert health.json()["dispatch_queue"]["status"] == "error"

    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "DISPATCH_QUEUE": REDIS_URL}
    assert call_attempt_reconcile(pending_after=0).requeued == [attempt.pk]
    assert queue_on.lrange(READY, 0, -1) == [str(attempt.pk).encode()]
    health = Client().get("/clicktoagent/health/")
    assert health.json()["dispatch_queue"] == {"status": "ok", "queued": 1, "deferred": 0}
    Dispatcher(burst=True).run()
    attempt.refresh_from_db()
    assert attempt.status == Status.PLACED


def test_a_popped_id_whose_dispatcher_died_is_reconciled(
    queue_on: Any, sandbox: SandboxServer, demo_data: Any
) -> None:
    attempt = create_call()
    assert dispatch_queue_pop() == attempt.pk  # ... and the process dies before its claim
    assert Dispatcher(burst=True).run() == 0
    assert call_attempt_reconcile(pending_after=0).requeued == [attempt.pk]
    Dispatcher(burst=True).run()
    attempt.refresh_from_db()
    assert attempt.status == Status.PLACED
    assert len(sandbox.requests()) == 1


def test_without_the_queue_attempts_stay_tasks(
    sandbox: SandboxServer, demo_data: Any, redis_client: Any
) -> None:
    attempt = create_call()
    assert attempt.status == Status.PLACED  # the immediate backend, in the request
    assert redis_client.keys("clicktoagent:dispatch:*") == []
    with pytest.raises(CommandError, match="DISPATCH_QUEUE"):
        call_command("clicktoagent_dispatcher", "--burst")


def test_the_command_dispatches_and_reports(
    queue_on: Any, sandbox: SandboxServer, demo_data: Any, capsys: Any
) -> None:
    create_call()
    create_call(phone_to_call="3125550124")
    call_command("clicktoagent_dispatcher", "--burst")
    assert "dispatched: 2" in capsys.readouterr().out
    assert set(CallAttempt.objects.values_list("status", flat=True)) == {Status.PLACED}


@pytest.mark.parametrize("value", ["http://127.0.0.1:6379/0", 6379, "127.0.0.1"])
def test_a_dispatch_queue_that_is_not_a_redis_url_fails_the_check(
    settings: Any, value: Any
) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "DISPATCH_QUEUE": value}
    assert "clicktoagent.E012" in [m.id for m in check_settings()]
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "DISPATCH_QUEUE": REDIS_URL}
    assert "clicktoagent.E012" not in [m.id for m in check_settings()]


def test_the_connection_is_checked_once_a_second_and_a_broken_one_is_replaced(
    queue_on: Any, sandbox: SandboxServer, demo_data: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    from clicktoagent.dispatch import dispatcher

    checks: list[float] = []
    monkeypatch.setattr(dispatcher, "close_old_connections", lambda: checks.append(1))
    real = dispatcher.call_attempt_dispatch
    runs: list[int] = []

    def first_run_loses_its_connection(*, attempt_id: int) -> CallAttempt:
        runs.append(attempt_id)
        if len(runs) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(attempt_id=attempt_id)

    monkeypatch.setattr(dispatcher, "call_attempt_dispatch", first_run_loses_its_connection)
    ids = [create_call(phone_to_call=f"312555{i:04d}").pk for i in range(5)]
    Dispatcher(burst=True).run()
    assert set(CallAttempt.objects.values_list("status", flat=True)) == {Status.PLACED}
    assert runs == [ids[0], *ids]  # the first attempt once more, on a new connection
    assert len(checks) == 2  # before the first attempt, and after the broken connection
    assert len(sandbox.requests()) == 5
