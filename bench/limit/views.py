"""The limit project's views (and URLconf): the essential work and nothing else.

``call_attempts``: token check (one SELECT), one INSERT, one GET to DialogTech on a
``requests.Session`` kept by the process, the XML answer parsed with lxml, one UPDATE.
``webhook``: one INSERT and one Redis LPUSH.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import requests
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .dialtech import place_call

_state: dict[str, Any] = {}
# Read once, as the app reads its settings.
_BASE_URL = os.environ.get("DIALOGTECH_BASE_URL", "")
_CREDENTIALS = {
    "access_key": os.environ.get("DIALOGTECH_ACCESS_KEY", ""),
    "secret_access_key": os.environ.get("DIALOGTECH_SECRET_ACCESS_KEY", ""),
}


def _session() -> requests.Session:
    # Made on first use, after gunicorn forked the worker: one pool per process.
    if "session" not in _state:
        session = requests.Session()
        session.trust_env = False
        _state["session"] = session
    return _state["session"]  # type: ignore[no-any-return]


def _redis() -> Any:
    if "redis" not in _state:
        import redis

        _state["redis"] = redis.Redis.from_url(os.environ["REDIS_URL"])
    return _state["redis"]


def _authenticated(request: HttpRequest) -> bool:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Token" or not key:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT user_id FROM limit_token WHERE key = %s", [key])
        return cursor.fetchone() is not None


def place_and_record(data: dict[str, Any]) -> dict[str, Any]:
    """The essential work of a placed call (``queue_id``, ``agent_id``, ``phone_to_call``
    of ``data``): one INSERT, one GET, parse, one UPDATE; the answer (the attempt's id,
    status and sid)."""
    queue_id, agent_id, phone = data["queue_id"], data["agent_id"], data["phone_to_call"]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO limit_attempt (queue_id, agent_id, phone_to_call, status, created_at) "
            "VALUES (%s, %s, %s, 'dispatching', %s) RETURNING id",
            [queue_id, agent_id, phone, datetime.now(tz=UTC).isoformat()],
        )
        attempt_id = cursor.fetchone()[0]
    status, sid, result = place_call(
        _session(), _BASE_URL, _CREDENTIALS, queue_id=queue_id, agent_id=agent_id, phone=phone
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE limit_attempt SET status = %s, sid = %s, result = %s, finished_at = %s "
            "WHERE id = %s",
            [status, sid, result, datetime.now(tz=UTC).isoformat(), attempt_id],
        )
    return {"id": attempt_id, "status": status, "sid": sid}


def store_and_push(body: bytes) -> int:
    """The essential work of a webhook delivery: one INSERT, one LPUSH; the event's id."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO limit_event (body, received_at) VALUES (%s, %s) RETURNING id",
            [body.decode(), datetime.now(tz=UTC)],
        )
        event_id = cursor.fetchone()[0]
    _redis().lpush("limit:webhooks", event_id)
    return int(event_id)


@csrf_exempt
@require_POST
def call_attempts(request: HttpRequest) -> HttpResponse:
    if not _authenticated(request):
        return JsonResponse({"detail": "Invalid token."}, status=401)
    return JsonResponse(place_and_record(json.loads(request.body)), status=201)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    event_id = store_and_push(request.body)
    return JsonResponse({"status": "received", "event_id": event_id})


urlpatterns = [
    path("clicktoagent/api/call-attempts/", call_attempts),
    path("clicktoagent/webhooks/generic/", webhook),
]
