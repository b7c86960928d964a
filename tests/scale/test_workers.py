"""Scale-out under faults: RQ worker processes, Redis, PostgreSQL and the emulator; the
tests marked ``BOTH`` run again with dispatchers (``manage.py clicktoagent_dispatcher``)
taking the calls from the Redis dispatch queue.

Every scenario checks the two promises: no attempt is lost (each ends placed, failed
or unknown within a bound) and no contact is dialled twice (the emulator saw each
attempt's request once; only requests that never reached it are repeated).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from clicktoagent.dispatch import breaker
from clicktoagent.dispatch.redis_queue import dispatch_queue_pop
from clicktoagent.models import CallAttempt
from clicktoagent.services import call_attempt_enqueue, call_attempt_get_or_create
from tests.conftest import ROOT, SECRET_ACCESS_KEY
from tests.scale.conftest import (
    BREAKER_THRESHOLD,
    READ_TIMEOUT,
    REDIS_URL,
    all_finished,
    statuses,
    wait_for,
)

pytestmark = [pytest.mark.scale, pytest.mark.postgres]

Status = CallAttempt.Status
# RQ workers, then dispatchers: the same scenario and the same promises for both.
BOTH = pytest.mark.parametrize("scale", ["rq", "dispatcher"], indirect=True)
# What only the Redis dispatch queue can do wrong: an id popped and lost, a dispatcher
# stopped at once.
DISPATCHER_ONLY = pytest.mark.parametrize("scale", ["dispatcher"], indirect=True)
NOT_PROCESSED = {"http_503", "http_429"}


def number(i: int) -> str:
    """A distinct valid phone number per attempt, to find its requests in the log."""
    return f"312200{i:04d}"


def create(phone: str, *, queue_id: str = "12345", agent_id: str = "98765", **kw: Any) -> int:
    attempt, created = call_attempt_get_or_create(
        queue_id=queue_id, agent_id=agent_id, phone_to_call=phone, source="api", **kw
    )
    assert created
    return attempt.pk


def reached(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Requests DialogTech processed (a 503/429 refusal never processes anything)."""
    return [r for r in requests if r["fault"] not in NOT_PROCESSED]


@BOTH
def test_500_attempts_with_faults_end_once_each(scale: dict[str, Any]) -> None:
    sandbox = scale["sandbox"]
    # The outage below must not exhaust anybody's tries: only the breaker holds them.
    scale["env"]["CLICKTOAGENT_MAX_TRIES"] = "10"
    kinds: dict[int, str] = {}
    for i in range(500):
        phone = number(i)
        slot = i % 10
        if slot <= 5:
            pk = create(phone, agent_id="98765" if i % 2 else "98766")
            kinds[pk] = "success"
            continue
        if slot == 6:
            kinds[create(phone, queue_id="12346", agent_id="98767")] = "refused"
            continue
        fault = {7: "http_500", 8: "http_503", 9: "read_timeout" if i % 50 == 9 else "drop"}[slot]
        seconds = {"http_503": 1, "read_timeout": READ_TIMEOUT + 2}.get(fault)
        sandbox.add_fault(fault, seconds=seconds, phone_to_call=phone)
        kinds[create(phone)] = fault
    ids = list(kinds)
    started = time.monotonic()
    scale["workers"].start(2)

    # Refused connections: DialogTech goes away for a while in the middle of the run.
    def some_done() -> bool:
        """150 attempts to finish"""
        finished = (Status.PLACED, Status.FAILED, Status.UNKNOWN)
        return sum(s in finished for s in statuses(ids).values()) >= 150

    wait_for(some_done, timeout=60)
    outage_began = timezone.now()
    sandbox.stop()
    time.sleep(2)
    sandbox.start()
    outage_ended = timezone.now()

    wait_for(all_finished(ids), timeout=150, interval=0.5)
    elapsed = time.monotonic() - started
    time.sleep(READ_TIMEOUT)  # let any (wrong) duplicate reach the emulator before counting

    attempts = {a.pk: a for a in CallAttempt.objects.filter(pk__in=ids)}
    requests = sandbox.requests()
    by_phone: dict[str, list[dict[str, Any]]] = {}
    for entry in requests:
        by_phone.setdefault(entry["params"]["phone_to_call"], []).append(entry)
    expected = {
        "success": Status.PLACED,
        "refused": Status.FAILED,
        "http_500": Status.UNKNOWN,
        "read_timeout": Status.UNKNOWN,
        "drop": Status.UNKNOWN,
        "http_503": Status.PLACED,
    }
    cut: list[int] = []
    for pk, kind in kinds.items():
        attempt = attempts[pk]
        seen = by_phone.get(attempt.phone_to_call, [])
        processed = reached(seen)
        # At most once, whatever happened.
        assert len(processed) <= 1, (kind, attempt.pk, seen)
        assert attempt.finished_at is not None
        in_outage = outage_began <= attempt.finished_at <= outage_ended + timedelta(seconds=2)
        if (
            attempt.status == Status.UNKNOWN
            and in_outage
            and (expected[kind] != Status.UNKNOWN or not processed)
        ):
            # A request in flight when DialogTech went away: the connection broke after
            # sending, so it may have been placed; unknown is the only honest outcome.
            # (Whether the emulator got to process it depends on the moment it stopped.)
            cut.append(pk)
            continue
        assert attempt.status == expected[kind], (kind, attempt.status, attempt.error, seen)
        # Exactly one request reached DialogTech for every attempt.
        assert len(processed) == 1, (kind, attempt.pk, seen)
        if kind in ("success", "http_503"):
            assert attempt.sid == processed[0]["sid"]
        if kind == "refused":
            assert attempt.result == "failed" and "unavailable" in attempt.result_description
        if kind == "http_503":
            assert [r["status"] for r in seen] == [503, 200]
            assert attempt.tries >= 2
        # Only never-sent requests are repeated: tries beyond the first were refused
        # connections or 503s, none of them reached DialogTech.
        assert attempt.tries >= len(seen)
    assert elapsed < 150
    # At most the requests in flight (one per worker) were cut by the outage.
    assert len(cut) <= 2, [(pk, attempts[pk].error) for pk in cut]
    # Every processed request belongs to one of our attempts (no stray duplicates).
    assert len(ids) - len(cut) <= sum(len(reached(v)) for v in by_phone.values()) <= len(ids)

    logs = scale["workers"].logs()
    assert SECRET_ACCESS_KEY not in logs
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    placed = [line for line in lines if line.get("status") == "placed" and "sid" in line]
    assert placed and {"attempt_id", "sid", "tries", "duration_ms"} <= set(placed[0])


def call_in_flight(
    scale: dict[str, Any], phone: str, *, seconds: float
) -> tuple[subprocess.Popen[bytes], int]:
    """Start one worker and create an attempt whose call the emulator holds ``seconds``;
    the worker and the attempt's id, once the worker has claimed it."""
    (worker,) = scale["workers"].start(1)
    scale["sandbox"].add_fault("latency", seconds=seconds, phone_to_call=phone)
    pk = create(phone)

    def dispatching() -> bool:
        """the attempt to be claimed"""
        return statuses([pk])[pk] == Status.DISPATCHING

    wait_for(dispatching, timeout=20, interval=0.05)
    return worker, pk


def lost_mid_call_ends_unknown_once(scale: dict[str, Any], settings: Any, pk: int) -> None:
    """The worker of ``pk`` was lost mid-call: the reconciler (with a margin of 1 s)
    leaves the attempt alone while its call may be in flight, then ends it unknown; a
    fresh worker and more reconciler runs never dial it again."""
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "RECONCILE_DISPATCHING_MARGIN": 1.0}
    # Too early: the call may still be in flight, so the reconciler leaves it alone.
    call_command("clicktoagent_reconcile", verbosity=0)
    assert statuses([pk])[pk] == Status.DISPATCHING

    attempt = CallAttempt.objects.get(pk=pk)
    assert attempt.dispatched_at is not None
    phone = attempt.phone_to_call
    wait_seconds = 1.0 + READ_TIMEOUT + 1.0 + 0.5
    time.sleep(max(0.0, wait_seconds - (timezone.now() - attempt.dispatched_at).total_seconds()))
    call_command("clicktoagent_reconcile", verbosity=0)
    attempt.refresh_from_db()
    assert attempt.status == Status.UNKNOWN
    assert "worker was lost" in attempt.error

    # A fresh worker and more reconciler runs never dial it again.
    scale["workers"].start(1)
    call_command("clicktoagent_reconcile", pending_after=0, verbosity=0)
    time.sleep(3)
    attempt.refresh_from_db()
    assert attempt.status == Status.UNKNOWN
    assert attempt.tries == 1
    assert len(scale["sandbox"].requests_for(phone)) == 1  # placed once (late)


@BOTH
def test_worker_killed_mid_call_ends_unknown_and_is_never_redialled(
    scale: dict[str, Any], settings: Any
) -> None:
    worker, pk = call_in_flight(scale, number(1), seconds=3)
    time.sleep(0.5)  # the request is on the wire; the emulator answers after 3 s
    # The worker runs the call itself: no work horse is forked per job.
    assert scale["workers"].horses(worker) == []
    # The machine dies: the worker and its scheduler, without warning.
    scale["workers"].kill(worker)
    lost_mid_call_ends_unknown_once(scale, settings, pk)


@BOTH
def test_sigterm_lets_the_call_in_flight_finish(scale: dict[str, Any]) -> None:
    sandbox = scale["sandbox"]
    phone = number(2)
    worker, pk = call_in_flight(scale, phone, seconds=1.0)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    attempt = CallAttempt.objects.get(pk=pk)
    assert attempt.status == Status.PLACED
    (request,) = sandbox.requests_for(phone)
    assert attempt.sid == request["sid"]


# The Redis of SCALE_REDIS_URL, which the restart test stops and starts again.
REDIS_PORT = str(urlsplit(REDIS_URL).port or 6379)
REDIS_START = [
    "redis-server",
    "--daemonize", "yes",
    "--bind", "127.0.0.1", "-::1",
    "--port", REDIS_PORT,
    "--save", "",
    "--appendonly", "no",
    "--dir", "/var/lib/redis",
    "--logfile", f"/var/log/redis/scale-{REDIS_PORT}.log",
]  # fmt: skip


def _redis_up() -> bool:
    """Redis to answer"""
    ping = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", REDIS_PORT, "ping"], capture_output=True, timeout=5
    )
    return ping.stdout.strip() == b"PONG"


def _start_redis() -> None:
    if _redis_up():
        return
    os.makedirs("/var/lib/redis", exist_ok=True)
    os.makedirs("/var/log/redis", exist_ok=True)
    subprocess.run(REDIS_START, check=True, timeout=20)
    wait_for(_redis_up, timeout=20)


@BOTH
def test_redis_restart_loses_no_attempt(scale: dict[str, Any]) -> None:
    if urlsplit(REDIS_URL).hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("stops and starts a Redis on this machine (127.0.0.1) only")
    sandbox = scale["sandbox"]
    workers = scale["workers"]
    workers.start(2)
    before = [create(number(i)) for i in range(3)]
    wait_for(all_finished(before), timeout=30)

    during: list[int] = []
    try:
        subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", REDIS_PORT, "shutdown", "nosave"],
            capture_output=True,
            timeout=10,
        )
        wait_for(lambda: not _redis_up(), timeout=10)
        # Created while the queue is down: stored, not sent, not lost.
        during = [create(number(100 + i)) for i in range(20)]
        assert set(statuses(during).values()) == {Status.PENDING}
        response = Client().get("/clicktoagent/health/")
        assert response.status_code == 503
        assert response.json()["task_backend"]["status"] == "error"
    finally:
        _start_redis()

    # Workers reconnect by themselves; a supervisor (systemd Restart=always) would
    # restart one that gave up on Redis.
    dead = [p for p in workers.procs if p.poll() is not None]
    if dead:
        workers.start(len(dead))
    reconcile = subprocess.run(
        [sys.executable, "manage.py", "clicktoagent_reconcile", "--pending-after", "0"],
        cwd=ROOT,
        env=scale["env"],
        capture_output=True,
        timeout=60,
    )
    assert reconcile.returncode == 0, reconcile.stderr
    assert b"queued again: 20" in reconcile.stdout
    wait_for(all_finished(during), timeout=60)
    time.sleep(READ_TIMEOUT)
    assert set(statuses(during).values()) == {Status.PLACED}
    for i in range(20):
        assert len(sandbox.requests_for(number(100 + i))) == 1


@BOTH
def test_50_concurrent_requests_with_one_idempotency_key_make_one_call(
    scale: dict[str, Any],
) -> None:
    sandbox = scale["sandbox"]
    scale["workers"].start(2)
    phone = number(3)
    barrier = threading.Barrier(50)
    results: list[Any] = []
    lock = threading.Lock()

    def deliver() -> None:
        try:
            barrier.wait(timeout=30)
            outcome: Any = call_attempt_get_or_create(
                queue_id="12345",
                agent_id="98765",
                phone_to_call=phone,
                source="webhook",
                idempotency_key="hubspot:event:42",
            )
        except Exception as err:
            outcome = err
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 50
    assert all(isinstance(r, tuple) for r in results), [
        r for r in results if not isinstance(r, tuple)
    ]
    assert sum(created for _, created in results) == 1
    (pk,) = {attempt.pk for attempt, _ in results}
    wait_for(all_finished([pk]), timeout=30)
    time.sleep(1.0)
    assert CallAttempt.objects.count() == 1
    assert statuses([pk])[pk] == Status.PLACED
    assert len(sandbox.requests_for(phone)) == 1


@BOTH
def test_circuit_breaker_opens_while_dialogtech_is_unreachable_then_closes(
    scale: dict[str, Any], settings: Any
) -> None:
    sandbox = scale["sandbox"]
    cooldown = 2.0
    scale["env"]["CLICKTOAGENT_CIRCUIT_BREAKER_COOLDOWN"] = str(cooldown)
    scale["env"]["CLICKTOAGENT_MAX_TRIES"] = "10"
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "CIRCUIT_BREAKER_COOLDOWN": cooldown}
    workers = scale["workers"]
    workers.start(2)
    sandbox.stop()  # connections refused: requests that certainly never reached it
    try:
        ids = [create(number(200 + i)) for i in range(12)]

        def breaker_open() -> bool:
            """the circuit breaker to open"""
            return breaker.circuit_state() == breaker.OPEN

        wait_for(breaker_open, timeout=20, interval=0.05)
        response = Client().get("/clicktoagent/health/")
        assert response.status_code == 503
        assert response.json()["circuit_breaker"]["state"] == breaker.OPEN
        # Held, not failed, and not hammering DialogTech (counted below).
        time.sleep(3 * cooldown)
        assert set(statuses(ids).values()) <= {Status.PENDING, Status.DISPATCHING}
    finally:
        sandbox.start()

    wait_for(all_finished(ids), timeout=60, interval=0.3)
    assert set(statuses(ids).values()) == {Status.PLACED}
    assert breaker.circuit_state() == breaker.CLOSED
    for i in range(12):
        assert len(sandbox.requests_for(number(200 + i))) == 1
    # Requests that never reached DialogTech: the threshold, plus one probe per cool-down.
    not_sent = sum(a.tries - 1 for a in CallAttempt.objects.filter(pk__in=ids))
    assert BREAKER_THRESHOLD <= not_sent <= BREAKER_THRESHOLD + 2 + (3 * cooldown + 8) / cooldown
    logs = workers.logs()
    assert "circuit breaker open" in logs
    assert "half-open" in logs
    assert "circuit breaker closed" in logs
    response = Client().get("/clicktoagent/health/")
    assert response.status_code == 200, response.json()


@BOTH
def test_request_cap_is_shared_by_all_workers(scale: dict[str, Any]) -> None:
    sandbox = scale["sandbox"]
    cap = 3
    scale["env"]["CLICKTOAGENT_RATE_LIMIT_PER_MINUTE"] = str(cap)
    workers = scale["workers"]
    if time.time() % 60 > 40:  # keep the whole run inside one calendar minute
        time.sleep(61 - time.time() % 60)
    workers.start(2)
    minute = int(time.time() // 60)
    ids = [create(number(300 + i)) for i in range(8)]

    def all_placed_or_held() -> bool:
        """every attempt to be placed or held for the next minute"""
        rows = CallAttempt.objects.filter(pk__in=ids).values_list("status", "next_try_at")
        return all(
            status == Status.PLACED or (status == Status.PENDING and next_try is not None)
            for status, next_try in rows
        )

    wait_for(all_placed_or_held, timeout=30)
    time.sleep(READ_TIMEOUT)
    assert int(time.time() // 60) == minute, "the run crossed a minute boundary"
    placed = CallAttempt.objects.filter(pk__in=ids, status=Status.PLACED).count()
    assert placed == cap
    assert len(sandbox.requests()) == cap
    held = CallAttempt.objects.filter(pk__in=ids, status=Status.PENDING)
    assert held.count() == len(ids) - cap
    assert all(a.tries == 0 and a.next_try_at.timestamp() >= (minute + 1) * 60 for a in held)


def _backends(application_name: str) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [application_name]
        )
        return {row[0] for row in cursor.fetchall()}


@BOTH
def test_worker_runs_jobs_in_one_process_on_one_database_connection(
    scale: dict[str, Any],
) -> None:
    name = "cta-scale-worker"
    scale["env"]["DATABASE_URL"] += f"?application_name={name}"
    scale["env"]["DATABASE_CONN_MAX_AGE"] = "60"
    (worker,) = scale["workers"].start(1)
    first = create(number(400))
    wait_for(all_finished([first]), timeout=20, interval=0.05)
    (backend,) = _backends(name)

    ids = [create(number(401 + i)) for i in range(10)]
    while not all_finished(ids)():
        # No job process at any moment: the worker runs every job itself.
        assert scale["workers"].horses(worker) == []
        time.sleep(0.02)
    assert set(statuses(ids).values()) == {Status.PLACED}
    # The same PostgreSQL backend served all eleven jobs.
    assert _backends(name) == {backend}

    # A connection that broke between jobs is noticed and replaced (CONN_HEALTH_CHECKS).
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
    late = create(number(420))
    wait_for(all_finished([late]), timeout=20, interval=0.05)
    assert statuses([late])[late] == Status.PLACED
    assert len(_backends(name) - {backend}) == 1


def test_job_timeout_interrupts_a_hung_call_and_the_worker_goes_on(
    scale: dict[str, Any], settings: Any
) -> None:
    sandbox = scale["sandbox"]
    # The job timeout (queued with the job) ends the call long before the client's own.
    settings.RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 2}}
    scale["env"]["DIALOGTECH_TIMEOUT"] = "30"
    (worker,) = scale["workers"].start(1)
    hung, after = number(500), number(501)
    sandbox.add_fault("latency", seconds=8, phone_to_call=hung)
    first = create(hung)
    second = create(after)
    started = time.monotonic()
    wait_for(all_finished([first]), timeout=20, interval=0.05)
    assert time.monotonic() - started < 6
    attempt = CallAttempt.objects.get(pk=first)
    # It was sent: it may have been placed, so it ends unknown and is never sent again.
    assert attempt.status == Status.UNKNOWN
    assert "JobTimeoutException" in attempt.error
    wait_for(all_finished([second]), timeout=20, interval=0.05)
    assert statuses([second])[second] == Status.PLACED
    assert worker.poll() is None
    time.sleep(7)  # the emulator answers the hung request late; nothing is retried
    assert len(sandbox.requests_for(hung)) == 1
    assert CallAttempt.objects.get(pk=first).tries == 1


@BOTH
def test_an_attempt_queued_many_times_is_dialled_once(scale: dict[str, Any]) -> None:
    sandbox = scale["sandbox"]
    ids = [create(number(600 + i)) for i in range(5)]
    for pk in ids:
        for _ in range(10):
            call_attempt_enqueue(attempt_id=pk)
    scale["workers"].start(2)
    wait_for(all_finished(ids), timeout=60)
    time.sleep(READ_TIMEOUT)
    assert set(statuses(ids).values()) == {Status.PLACED}
    for i, attempt in enumerate(CallAttempt.objects.filter(pk__in=ids).order_by("pk")):
        assert attempt.tries == 1
        assert len(sandbox.requests_for(number(600 + i))) == 1


@DISPATCHER_ONLY
def test_an_id_popped_and_lost_is_queued_again_by_the_reconciler(scale: dict[str, Any]) -> None:
    sandbox = scale["sandbox"]
    pk = create(number(700))
    # A dispatcher pops it and is killed before its claim: the id is gone from Redis.
    assert dispatch_queue_pop() == pk
    scale["workers"].start(1)
    time.sleep(1.0)
    assert statuses([pk])[pk] == Status.PENDING
    call_command("clicktoagent_reconcile", pending_after=0, verbosity=0)
    wait_for(all_finished([pk]), timeout=20, interval=0.05)
    assert statuses([pk])[pk] == Status.PLACED
    assert len(sandbox.requests_for(number(700))) == 1


@DISPATCHER_ONLY
def test_a_second_sigterm_stops_at_once_and_the_call_ends_unknown(
    scale: dict[str, Any], settings: Any
) -> None:
    dispatcher, pk = call_in_flight(scale, number(701), seconds=3)
    for pause in (0.3, 0.2):
        time.sleep(pause)
        dispatcher.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert dispatcher.wait(timeout=10) != 0
    assert time.monotonic() - started < 1.5  # it did not wait for the answer (3 s)
    lost_mid_call_ends_unknown_once(scale, settings, pk)
