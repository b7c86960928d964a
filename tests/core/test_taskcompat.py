"""The Tasks framework of each Django version, and the backends the app runs on.

Django 6.x has ``django.tasks`` built in; on 5.2 the app uses the ``django-tasks``
backport. ``clicktoagent.taskcompat`` is the only module that knows which.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import django
import pytest
from django.utils import timezone

from clicktoagent import taskcompat
from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt
from clicktoagent.services import call_attempt_create, call_attempt_dispatch
from tests.conftest import ROOT, redis_or_skip

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallAttempt.Status
CALL = {"queue_id": "12345", "agent_id": "98765", "phone_to_call": "3125550123"}
# A Redis database of its own: the tests flush it.
RQ_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
FRAMEWORK = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"


def create() -> CallAttempt:
    attempt = call_attempt_create(**CALL, source="api")
    attempt.refresh_from_db()
    return attempt


def test_the_app_uses_the_tasks_framework_of_its_django_version(settings: Any) -> None:
    from clicktoagent.dispatch.tasks import dispatch_call_attempt

    framework = importlib.import_module(FRAMEWORK)
    assert taskcompat.task_backends is framework.task_backends
    assert taskcompat.task is framework.task
    assert isinstance(dispatch_call_attempt, importlib.import_module(f"{FRAMEWORK}.base").Task)
    assert taskcompat.IMMEDIATE_BACKEND.startswith(f"{FRAMEWORK}.backends.")
    assert taskcompat.DUMMY_BACKEND.startswith(f"{FRAMEWORK}.backends.")
    # The backport is an app; Django's built-in framework is not.
    assert ("django_tasks" in settings.INSTALLED_APPS) is (FRAMEWORK == "django_tasks")


def test_no_module_but_taskcompat_names_a_tasks_framework() -> None:
    # django_tasks_rq (the RQ engine) is the same on every version; the framework is not.
    framework = re.compile(r"\bdjango[._]tasks\b(?!_)")
    allowed = {ROOT / "clicktoagent" / "taskcompat.py", Path(__file__).resolve()}
    found = []
    for folder in ("clicktoagent", "config", "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path in allowed:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if framework.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


def test_immediate_backend_places_the_call_inside_the_request(
    sandbox: SandboxServer, demo_data: Any, settings: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": taskcompat.IMMEDIATE_BACKEND}}
    assert create().status == Status.PLACED
    assert len(sandbox.requests()) == 1


def test_a_backend_that_defers_gets_the_retry_with_run_after(
    sandbox: SandboxServer, demo_data: Any, settings: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": taskcompat.DUMMY_BACKEND}}
    backend = taskcompat.task_backends["default"]
    attempt = create()
    assert attempt.status == Status.PENDING
    (first,) = backend.results
    assert first.task.run_after is None

    sandbox.add_fault("http_503", seconds=30)
    attempt = call_attempt_dispatch(attempt_id=attempt.pk)  # what a worker does
    assert attempt.status == Status.PENDING
    assert attempt.next_try_at is not None
    # No sleep in the worker: the next try is a task for when DialogTech asked.
    _, retry = backend.results
    assert retry.task.run_after == attempt.next_try_at
    assert timedelta(seconds=25) < retry.task.run_after - timezone.now() <= timedelta(seconds=30)

    assert call_attempt_dispatch(attempt_id=attempt.pk).status == Status.PLACED
    assert len(sandbox.requests()) == 2


# -- RQ (django-tasks-rq) in this process, on every Django version ---------------------


@pytest.fixture
def rq_queue(settings: Any) -> Iterator[Any]:
    """The RQ backend on Redis, as ``TASKS_BACKEND=rq`` configures it."""
    import django_rq

    client = redis_or_skip(RQ_REDIS_URL, needed_for=" (TEST_REDIS_URL)")
    settings.TASKS = {"default": {"BACKEND": taskcompat.RQ_BACKEND, "QUEUES": ["default"]}}
    settings.RQ_QUEUES = {"default": {"URL": RQ_REDIS_URL}}
    settings.RQ = {"JOB_CLASS": taskcompat.RQ_JOB_CLASS}
    yield django_rq.get_queue("default")
    client.flushdb()


def run_worker(queue: Any) -> None:
    """Run the queued jobs here, as ``manage.py rqworker --burst`` would."""
    from rq import SimpleWorker

    SimpleWorker([queue], connection=queue.connection, job_class=queue.job_class).work(burst=True)


@pytest.mark.service
def test_rq_backend_queues_the_call_for_a_worker(
    sandbox: SandboxServer, demo_data: Any, rq_queue: Any
) -> None:
    attempt = create()
    assert attempt.status == Status.PENDING
    assert rq_queue.count == 1
    assert sandbox.requests() == []
    run_worker(rq_queue)
    attempt.refresh_from_db()
    assert attempt.status == Status.PLACED
    assert len(sandbox.requests()) == 1


@pytest.mark.service
def test_rq_backend_schedules_a_refused_call_for_later(
    sandbox: SandboxServer, demo_data: Any, rq_queue: Any
) -> None:
    sandbox.add_fault("http_503", seconds=30)
    attempt = create()
    run_worker(rq_queue)
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING
    assert attempt.next_try_at is not None
    # The retry waits in RQ's scheduled registry until DialogTech's Retry-After.
    registry = rq_queue.scheduled_job_registry
    (job_id,) = registry.get_job_ids()
    scheduled = registry.get_scheduled_time(job_id)
    assert abs((scheduled - attempt.next_try_at).total_seconds()) < 1
    assert rq_queue.count == 0

    # What the scheduler does once it is due.
    rq_queue.enqueue_job(rq_queue.fetch_job(job_id))
    registry.remove(job_id)
    run_worker(rq_queue)
    attempt.refresh_from_db()
    assert attempt.status == Status.PLACED
    assert len(sandbox.requests()) == 2
