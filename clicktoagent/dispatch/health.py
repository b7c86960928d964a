"""``GET /clicktoagent/health/``: can calls go out? JSON, 200 when healthy, 503 when not.

Open to anonymous requests (load balancers, monitors); it shows states and ages
only, never a URL, a host name or a credential.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..conf import app_settings
from ..models import CallAttempt
from ..taskcompat import task_backends
from . import breaker
from .redis_queue import dispatch_queue_depth, dispatch_queue_on

logger = logging.getLogger("clicktoagent")

OK = "ok"
ERROR = "error"


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as err:
        logger.warning("health: the database is unreachable (%s)", type(err).__name__)
        return {"status": ERROR, "error": type(err).__name__}
    return {"status": OK, "vendor": connection.vendor}


def _task_backend() -> dict[str, Any]:
    alias = app_settings.TASK_BACKEND
    try:
        backend = task_backends[alias]
    except Exception as err:
        return {"status": ERROR, "alias": alias, "error": type(err).__name__}
    kind = type(backend)
    info: dict[str, Any] = {
        "status": OK,
        "alias": alias,
        "backend": f"{kind.__module__}.{kind.__qualname__}",
        "queue": app_settings.TASK_QUEUE_NAME,
    }
    if kind.__module__.startswith("django_tasks_rq"):
        try:
            import django_rq
            from rq import Worker

            queue = django_rq.get_queue(app_settings.TASK_QUEUE_NAME)
            queue.connection.ping()
            info["queued"] = queue.count
            info["workers"] = Worker.count(queue=queue)
        except Exception as err:
            logger.warning("health: the task queue is unreachable (%s)", type(err).__name__)
            info["status"] = ERROR
            info["error"] = type(err).__name__
    return info


def _dispatch_queue() -> dict[str, Any] | None:
    """The Redis dispatch queue's depth, when attempts go through it (``DISPATCH_QUEUE``)."""
    if not dispatch_queue_on():
        return None
    try:
        return {"status": OK, **dispatch_queue_depth()}
    except Exception as err:
        logger.warning("health: the dispatch queue is unreachable (%s)", type(err).__name__)
        return {"status": ERROR, "error": type(err).__name__}


def _oldest_pending_age() -> float | None:
    created = (
        CallAttempt.objects.filter(status=CallAttempt.Status.PENDING)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if created is None:
        return None
    return round((timezone.now() - created).total_seconds(), 1)


def health_report() -> tuple[bool, dict[str, Any]]:
    """Whether calls can go out, and the details behind the answer."""
    database = _database()
    tasks = _task_backend()
    queue = _dispatch_queue()
    circuit = breaker.circuit_info()
    problems: list[str] = []
    if database["status"] != OK:
        problems.append("database unreachable")
    if tasks["status"] != OK:
        problems.append("task queue unreachable")
    if queue is not None and queue["status"] != OK:
        problems.append("dispatch queue unreachable")
    if circuit["state"] == breaker.OPEN:
        problems.append("circuit breaker open: DialogTech could not be reached")
    age = None
    if database["status"] == OK:
        age = _oldest_pending_age()
        limit = float(app_settings.HEALTH_MAX_PENDING_AGE)
        if age is not None and age > limit:
            problems.append(f"a call attempt has been pending for more than {limit:g} s")
    report = {
        "status": OK if not problems else "unhealthy",
        "problems": problems,
        "database": database,
        "task_backend": tasks,
        **({"dispatch_queue": queue} if queue is not None else {}),
        "circuit_breaker": circuit,
        "oldest_pending_age_seconds": age,
    }
    return not problems, report


@login_not_required
@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)


# Included by ``clicktoagent.urls`` at ``health/``.
urlpatterns = [path("", health, name="health")]
