"""Circuit breaker, request cap, reconciler, health check and JSON logs, in one process.

These run with the immediate task backend and a process-local cache (no Redis, any
database); the multi-process behaviour is in test_workers.py.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import caches
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from clicktoagent import taskcompat
from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.dispatch import breaker, rate_limit
from clicktoagent.logging import JsonFormatter
from clicktoagent.models import CallAttempt
from clicktoagent.services import call_attempt_create, call_attempt_reconcile
from clicktoagent.signals import call_attempt_finished
from tests.conftest import ACCESS_KEY, SECRET_ACCESS_KEY

Status = CallAttempt.Status
CLOSED_PORT_URL = "http://127.0.0.1:9/ibp_api.php"


def create(**kw: Any) -> CallAttempt:
    values = {"queue_id": "12345", "agent_id": "98765", "phone_to_call": "3125550123"}
    attempt = call_attempt_create(**{**values, **kw}, source="api")
    attempt.refresh_from_db()
    return attempt


def configure(settings: Any, **values: Any) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, **values}


@pytest.mark.django_db(transaction=True)
def test_breaker_opens_after_threshold_then_a_probe_closes_it(
    sandbox: SandboxServer, demo_data: Any, settings: Any
) -> None:
    configure(
        settings,
        BASE_URL=CLOSED_PORT_URL,
        MAX_TRIES=1,
        CIRCUIT_BREAKER_THRESHOLD=3,
        CIRCUIT_BREAKER_COOLDOWN=0.5,
    )
    for _ in range(3):
        assert create().status == Status.FAILED  # connection refused, never sent
    assert breaker.circuit_state() == breaker.OPEN

    held = create()
    assert held.status == Status.PENDING
    assert held.tries == 0  # not claimed, not sent
    assert held.next_try_at is not None and held.next_try_at > timezone.now()

    configure(settings, BASE_URL=sandbox.url)
    time.sleep(max(0.0, held.next_try_at.timestamp() - time.time() + 0.05))
    assert breaker.circuit_state() == breaker.HALF_OPEN
    report = call_attempt_reconcile(pending_after=0)
    assert report.requeued == [held.pk]
    held.refresh_from_db()
    assert held.status == Status.PLACED
    assert breaker.circuit_state() == breaker.CLOSED
    assert len(sandbox.requests()) == 1


def test_half_open_admits_exactly_one_probe(settings: Any) -> None:
    configure(settings, CIRCUIT_BREAKER_THRESHOLD=2, CIRCUIT_BREAKER_COOLDOWN=0)
    breaker.circuit_record_not_sent()
    assert breaker.circuit_state() == breaker.CLOSED
    assert breaker.circuit_hold() is None
    breaker.circuit_record_not_sent()
    assert breaker.circuit_state() == breaker.HALF_OPEN
    assert breaker.circuit_hold() is None  # the probe
    hold = breaker.circuit_hold()
    assert hold is not None and "probe" in hold.reason
    breaker.circuit_record_not_sent()  # the probe failed: open again
    assert breaker.circuit_info()["consecutive_failures"] == 3
    breaker.circuit_record_reached()
    assert breaker.circuit_state() == breaker.CLOSED
    assert breaker.circuit_hold() is None


def test_a_success_resets_counted_failures_and_costs_nothing_when_none_were(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(settings, CIRCUIT_BREAKER_THRESHOLD=3)
    breaker.circuit_record_not_sent()
    assert breaker.circuit_hold() is None
    breaker.circuit_record_reached()  # a failure was counted: reset
    assert caches["default"].get(breaker.FAILURES_KEY) is None

    assert breaker.circuit_hold() is None  # nothing counted now
    used: list[str] = []
    real = breaker.shared_cache
    monkeypatch.setattr(breaker, "shared_cache", lambda: used.append("cache") or real())
    breaker.circuit_record_reached()
    assert used == []  # no cache round trip after a clean hold
    breaker.circuit_record_reached()  # without a hold before it: asks the cache
    assert used == ["cache"]


def test_breaker_set_to_zero_is_off(settings: Any) -> None:
    configure(settings, CIRCUIT_BREAKER_THRESHOLD=0)
    for _ in range(10):
        breaker.circuit_record_not_sent()
    assert breaker.circuit_state() == breaker.CLOSED
    assert breaker.circuit_hold() is None


@pytest.mark.django_db(transaction=True)
def test_request_cap_holds_the_rest_until_the_next_minute(
    sandbox: SandboxServer, demo_data: Any, settings: Any
) -> None:
    if time.time() % 60 > 55:
        time.sleep(61 - time.time() % 60)
    # No count left in this minute by another test.
    caches["default"].delete(rate_limit.RATE_KEY.format(window=int(time.time() // 60)))
    configure(settings, RATE_LIMIT_PER_MINUTE=2)
    first, second, third = (create(phone_to_call=f"312555012{i}") for i in range(3))
    assert [first.status, second.status] == [Status.PLACED, Status.PLACED]
    assert third.status == Status.PENDING and third.tries == 0
    assert third.next_try_at is not None
    next_minute = (int(time.time() // 60) + 1) * 60
    assert next_minute <= third.next_try_at.timestamp() <= next_minute + 10
    assert len(sandbox.requests()) == 2


@pytest.mark.django_db(transaction=True)
def test_unreachable_cache_fails_open(
    sandbox: SandboxServer, demo_data: Any, settings: Any
) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }
    configure(settings, RATE_LIMIT_PER_MINUTE=1)
    assert breaker.circuit_state() == breaker.UNAVAILABLE
    assert create().status == Status.PLACED
    assert create(phone_to_call="3125550124").status == Status.PLACED


@pytest.mark.django_db(transaction=True)
def test_reconciler_requeues_lost_tasks_and_closes_lost_calls(
    sandbox: SandboxServer, demo_data: Any, settings: Any
) -> None:
    configure(settings, RECONCILE_PENDING_AFTER=60, RECONCILE_DISPATCHING_MARGIN=10)
    long_ago = timezone.now() - timedelta(minutes=5)
    lost_task = create(phone_to_call="3125550121", dispatch=False)
    fresh = create(phone_to_call="3125550122", dispatch=False)
    lost_worker = create(phone_to_call="3125550123", dispatch=False)
    in_flight = create(phone_to_call="3125550124", dispatch=False)
    CallAttempt.objects.filter(pk=lost_task.pk).update(created_at=long_ago)
    CallAttempt.objects.filter(pk__in=[lost_worker.pk, in_flight.pk]).update(
        status=Status.DISPATCHING, tries=1
    )
    CallAttempt.objects.filter(pk=lost_worker.pk).update(dispatched_at=long_ago)
    CallAttempt.objects.filter(pk=in_flight.pk).update(dispatched_at=timezone.now())
    finished: list[int] = []

    def receiver(sender: Any, attempt: CallAttempt, **kwargs: Any) -> None:
        finished.append(attempt.pk)

    call_attempt_finished.connect(receiver)
    try:
        report = call_attempt_reconcile()
    finally:
        call_attempt_finished.disconnect(receiver)
    assert report.requeued == [lost_task.pk]
    assert report.marked_unknown == [lost_worker.pk]
    states = dict(CallAttempt.objects.values_list("pk", "status"))
    assert states == {
        lost_task.pk: Status.PLACED,
        fresh.pk: Status.PENDING,
        lost_worker.pk: Status.UNKNOWN,
        in_flight.pk: Status.DISPATCHING,
    }
    assert lost_worker.pk in finished
    # Only the lost task was sent; the lost call was never dialled again.
    assert [r["params"]["phone_to_call"] for r in sandbox.requests()] == ["3125550121"]
    # Nothing left to do: a second run changes nothing.
    again = call_attempt_reconcile()
    assert again.requeued == [] and again.marked_unknown == []


@pytest.mark.django_db(transaction=True)
def test_reconciler_leases_each_lost_attempt_to_one_run(demo_data: Any, settings: Any) -> None:
    # A backend that only records tasks: the attempt stays pending after requeueing.
    settings.TASKS = {"default": {"BACKEND": taskcompat.DUMMY_BACKEND}}
    attempt = create(dispatch=False)
    CallAttempt.objects.filter(pk=attempt.pk).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    assert call_attempt_reconcile(pending_after=60).requeued == [attempt.pk]
    # A second reconciler (another machine, the next run) does not queue it again...
    assert call_attempt_reconcile(pending_after=60).requeued == []
    # ...until it is overdue again.
    assert call_attempt_reconcile(pending_after=0).requeued == [attempt.pk]
    assert CallAttempt.objects.get(pk=attempt.pk).status == Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_reconcile_command_reports_and_checks_its_arguments(
    sandbox: SandboxServer, demo_data: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    attempt = create(dispatch=False)
    CallAttempt.objects.filter(pk=attempt.pk).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    call_command("clicktoagent_reconcile")
    assert "queued again: 1; marked unknown: 0" in capsys.readouterr().out
    with pytest.raises(CommandError, match="--pending-after must not be negative"):
        call_command("clicktoagent_reconcile", pending_after=-1)


@pytest.mark.django_db
def test_health_is_open_json_and_free_of_secrets(sandbox: SandboxServer, demo_data: Any) -> None:
    response = Client().get("/clicktoagent/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["task_backend"]["backend"].endswith("ImmediateBackend")
    assert body["circuit_breaker"]["state"] == "closed"
    assert body["oldest_pending_age_seconds"] is None
    text = response.content.decode()
    for secret in (ACCESS_KEY, SECRET_ACCESS_KEY, sandbox.url):
        assert secret not in text
    assert Client().post("/clicktoagent/health/").status_code == 405


@pytest.mark.django_db
def test_health_is_503_for_an_old_pending_attempt_or_an_open_breaker(
    sandbox: SandboxServer, demo_data: Any, settings: Any
) -> None:
    attempt = create(dispatch=False)
    assert Client().get("/clicktoagent/health/").status_code == 200
    CallAttempt.objects.filter(pk=attempt.pk).update(created_at=timezone.now() - timedelta(hours=1))
    response = Client().get("/clicktoagent/health/")
    assert response.status_code == 503
    assert response.json()["oldest_pending_age_seconds"] >= 3600
    CallAttempt.objects.filter(pk=attempt.pk).update(status=Status.CANCELLED)

    configure(settings, CIRCUIT_BREAKER_THRESHOLD=1, CIRCUIT_BREAKER_COOLDOWN=60)
    breaker.circuit_record_not_sent()
    response = Client().get("/clicktoagent/health/")
    assert response.status_code == 503
    assert response.json()["circuit_breaker"]["state"] == "open"


def test_json_formatter_keeps_extras_and_masks_secrets(settings: Any) -> None:
    configure(settings, ACCESS_KEY=ACCESS_KEY, SECRET_ACCESS_KEY=SECRET_ACCESS_KEY)
    formatter = JsonFormatter()
    record = logging.LogRecord(
        "clicktoagent", logging.INFO, __file__, 1,
        "GET /ibp_api.php?access_key=%s&secret_access_key=%s failed",
        (ACCESS_KEY, SECRET_ACCESS_KEY), None,
    )  # fmt: skip
    record.attempt_id = 7
    record.status = "placed"
    record.sid = "abc123"
    record.tries = 2
    record.duration_ms = 31
    record.detail = {"note": f"key {SECRET_ACCESS_KEY}"}
    line = formatter.format(record)
    assert SECRET_ACCESS_KEY not in line and ACCESS_KEY not in line
    data = json.loads(line)
    assert data["level"] == "INFO" and data["logger"] == "clicktoagent"
    assert {k: data[k] for k in ("attempt_id", "status", "sid", "tries", "duration_ms")} == {
        "attempt_id": 7,
        "status": "placed",
        "sid": "abc123",
        "tries": 2,
        "duration_ms": 31,
    }
    try:
        raise RuntimeError(f"boom {SECRET_ACCESS_KEY}")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    data = json.loads(formatter.format(record))
    assert "RuntimeError" in data["exception"] and SECRET_ACCESS_KEY not in data["exception"]


@pytest.mark.django_db(transaction=True)
def test_each_attempt_life_is_logged_as_json(
    sandbox: SandboxServer, demo_data: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="clicktoagent"):
        attempt = create()
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "clicktoagent"]
    # With the immediate backend the attempt is stored already claimed (it is sent by
    # this process right after the commit), so its life starts at "dispatching".
    assert [(line["message"].split()[-1], line.get("status")) for line in lines] == [
        ("created", "dispatching"),
        ("dispatching", "dispatching"),
        ("placed", "placed"),
    ]
    assert all(line["attempt_id"] == attempt.pk for line in lines)
    assert lines[-1]["sid"] == attempt.sid and lines[-1]["tries"] == 1
    assert isinstance(lines[-1]["duration_ms"], int)


@pytest.mark.django_db(transaction=True)
def test_reconcile_every_loops_until_sigterm(sandbox: SandboxServer, demo_data: Any) -> None:
    attempt = create(dispatch=False)
    CallAttempt.objects.filter(pk=attempt.pk).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    started = time.monotonic()
    try:
        call_command("clicktoagent_reconcile", every=0.1, verbosity=0)
    finally:
        timer.cancel()
    assert 0.9 <= time.monotonic() - started < 10
    attempt.refresh_from_db()
    assert attempt.status == Status.PLACED
    assert len(sandbox.requests()) == 1
