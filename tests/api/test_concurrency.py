"""Concurrent repeats of one Idempotency-Key on PostgreSQL: one attempt, one call."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt

from .conftest import API, CALL, token_client

THREADS = 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_make_one_attempt_and_one_call(
    caller, sandbox: SandboxServer, demo_data
) -> None:
    barrier = threading.Barrier(THREADS)
    results: list[tuple[int, dict[str, Any]]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def repeat() -> None:
        try:
            client = token_client(caller)
            barrier.wait(timeout=10)
            response = client.post(
                f"{API}/call-attempts/",
                CALL,
                format="json",
                headers={"Idempotency-Key": "crm-event-9001"},
            )
            with lock:
                results.append((response.status_code, response.json()))
        except BaseException as err:  # reported below, in the test's own thread
            with lock:
                errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=repeat) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    statuses = sorted(code for code, _ in results)
    assert statuses == [200] * (THREADS - 1) + [201]
    assert len({body["id"] for _, body in results}) == 1
    assert CallAttempt.objects.count() == 1
    assert len(sandbox.requests()) == 1
    assert CallAttempt.objects.get().status == CallAttempt.Status.PLACED
