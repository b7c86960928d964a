"""The demo project's deployment settings: error logging, TLS, error pages, checks."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from django.core.checks import run_checks
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from tests.conftest import SECRET_ACCESS_KEY, run_manage

# A long random key: check --deploy refuses the development default.
DEPLOY_SECRET_KEY = "k9#Qz2!vR7@pL4$wX8^mN1&bT6*cY3(hJ5)fD0-gS8+aE2=uW7_oI4~eK1;rZ9"


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"a bug that quotes a secret: {SECRET_ACCESS_KEY}")


urlpatterns = [path("boom/", boom)]


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the ``console`` handler of ``django.request`` writes."""
    handler = next(h for h in logging.getLogger("django.request").handlers if h.name == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)  # type: ignore[arg-type]


def test_a_500_with_debug_off_is_logged_to_the_console_without_secrets(
    settings, console: io.StringIO, sandbox
) -> None:
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False
    records: list[logging.LogRecord] = []
    collector = logging.Handler()
    collector.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("django.request").addHandler(collector)
    try:
        response = Client(raise_request_exception=False).get("/boom/?access_key=AK-in-query")
    finally:
        logging.getLogger("django.request").removeHandler(collector)
    assert response.status_code == 500
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.ERROR, "Internal Server Error: /boom/")
    ]
    line = console.getvalue()
    assert "ERROR django.request Internal Server Error: /boom/" in line
    assert "RuntimeError: a bug that quotes a secret: [redacted]" in line
    assert SECRET_ACCESS_KEY not in line and "AK-in-query" not in line


DEPLOY_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": DEPLOY_SECRET_KEY,
    "DJANGO_ALLOWED_HOSTS": "calls.example.com",
    "DIALOGTECH_ACCESS_KEY": "deploy-access-key",
    "DIALOGTECH_SECRET_ACCESS_KEY": "deploy-secret-access-key",
    "CLICKTOAGENT_WEBHOOK_SECRET": "whsec_" + "A" * 32,
    "HUBSPOT_CLIENT_SECRET": "hubspot-client-secret",
    "SALESFORCE_ORGANIZATION_IDS": "00D000000000001",
    "SALESFORCE_WEBHOOK_TOKEN": "salesforce-webhook-token-0123456789",
    "PIPEDRIVE_WEBHOOK_USER": "pipedrive",
    "PIPEDRIVE_WEBHOOK_PASSWORD": "pipedrive-password",
}
TLS_WARNINGS = ("security.W004", "security.W008", "security.W012", "security.W016")


def test_check_deploy_is_clean_with_django_https_and_debug_off() -> None:
    result = run_manage("check", "--deploy", DJANGO_HTTPS="1", **DEPLOY_ENV)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Every secret the app warns about is set in DEPLOY_ENV: not a single warning is left.
    assert "System check identified no issues" in output, output


def test_without_django_https_check_deploy_names_the_tls_settings() -> None:
    # Off by default, so a local run over plain http keeps working.
    result = run_manage("check", "--deploy", **DEPLOY_ENV)
    output = result.stdout + result.stderr
    for warning in TLS_WARNINGS:
        assert warning in output


def test_django_https_sets_hsts_secure_cookies_redirect_and_the_proxy_header() -> None:
    code = (
        "from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_PROXY_SSL_HEADER)"
    )
    result = run_manage("shell", "-v", "0", "-c", code, DJANGO_HTTPS="1", **DEPLOY_ENV)
    assert result.stdout.strip().split(maxsplit=4) == [
        "31536000",
        "True",
        "True",
        "True",
        "('HTTP_X_FORWARDED_PROTO', 'https')",
    ], result.stderr
    result = run_manage("shell", "-v", "0", "-c", code, **DEPLOY_ENV)
    assert result.stdout.split(maxsplit=4)[:4] == ["0", "False", "False", "False"], result.stderr


DEBUG_PAGE = """
import os, sys
from django.test import RequestFactory
from django.views.debug import technical_500_response

# runserver's WSGI environ carries the process environment into request.META.
request = RequestFactory().get("/boom/", **dict(os.environ))
try:
    raise RuntimeError("boom")
except RuntimeError:
    response = technical_500_response(request, *sys.exc_info())
sys.stdout.write(response.content.decode())
"""


@pytest.mark.parametrize("tasks_backend", ["immediate", "rq"])
def test_debug_page_masks_database_and_redis_urls(tasks_backend: str) -> None:
    result = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        DEBUG_PAGE,
        TASKS_BACKEND=tasks_backend,  # rq: RQ_QUEUES holds a connection pool
        DJANGO_DEBUG="true",
        DATABASE_URL="postgres://u:s3cretpw@db.example.com/db",
        REDIS_URL="redis://:r3dispw@127.0.0.1:6379/14",
        DIALOGTECH_BASE_URL="https://dialogtech-user:d1alogpw@secure.dialogtech.com/ibp_api.php",
        CLICKTOAGENT_DISPATCH_QUEUE="redis://:d1spatchpw@127.0.0.1:6379/15",
    )
    page = result.stdout
    assert "RuntimeError" in page and "Request information" in page, result.stderr
    for secret in ("s3cretpw", "r3dispw", "d1alogpw", "d1spatchpw"):
        assert secret not in page
    assert "db.example.com" in page  # the host still helps debugging


RQ_CONNECTIONS = """
import django_rq
first, second = (django_rq.get_queue("default").connection for _ in range(2))
kwargs = first.connection_pool.connection_kwargs
print(first.connection_pool is second.connection_pool, kwargs["port"], kwargs["db"])
"""


def test_rq_queues_share_one_connection_pool_per_process() -> None:
    # django-rq makes a new client for each queue it hands out: with a URL that would
    # be a new connection (and a new TCP handshake) for every task queued.
    result = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        RQ_CONNECTIONS,
        TASKS_BACKEND="rq",
        REDIS_URL="redis://127.0.0.1:6390/5",
    )
    assert result.stdout.split() == ["True", "6390", "5"], result.stderr


RQ_VERSION_ASKED = """
import django_rq, redis
asked = []
info = redis.Redis.info
def counted(self, *args, **kwargs):
    asked.append(args)
    return info(self, *args, **kwargs)
redis.Redis.info = counted
for _ in range(3):
    django_rq.get_queue("default").enqueue_call(func="builtins.len", args=([],))
queue = django_rq.get_queue("default")
print(type(queue).__name__, queue.count, len(asked))
"""


def test_rq_asks_redis_for_its_version_once_per_process(redis_client) -> None:
    # django-rq's new client per queue would drop rq's cache of the server version:
    # one more round trip (INFO) for every task queued.
    url = redis_client.connection_pool.connection_kwargs
    result = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        RQ_VERSION_ASKED,
        TASKS_BACKEND="rq",
        REDIS_URL=f"redis://{url['host']}:{url['port']}/{url['db']}",
    )
    assert result.stdout.split() == ["Queue", "3", "1"], result.stderr


def check_ids() -> set[str]:
    return {message.id for message in run_checks() if message.id}


@pytest.mark.parametrize(
    ("base_url", "warned"),
    [
        ("http://dialogtech.example.com/ibp_api.php", True),
        ("http://10.0.0.7:8099/ibp_api.php", True),
        ("http://127.0.0.1:8099/ibp_api.php", False),
        ("http://localhost:8099/ibp_api.php", False),
        ("http://[::1]:8099/ibp_api.php", False),
        ("https://secure.dialogtech.com/ibp_api.php", False),
    ],
)
def test_plain_http_base_url_warns_unless_loopback(settings, base_url: str, warned: bool) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "BASE_URL": base_url}
    assert ("clicktoagent.W002" in check_ids()) is warned


PRINT_DISPATCH_QUEUE = (
    "from django.conf import settings; print(settings.CLICKTOAGENT['DISPATCH_QUEUE'])"
)


# CLICKTOAGENT_DISPATCH_QUEUE and REDIS_URL -> CLICKTOAGENT["DISPATCH_QUEUE"].
DISPATCH_QUEUE_FROM_ENV = {
    ("", "redis://127.0.0.1:6399/3"): "None",
    ("redis", "redis://127.0.0.1:6399/3"): "redis://127.0.0.1:6399/3",
    ("redis", ""): "redis://127.0.0.1:6379/0",
    ("rediss://queue.internal:6380/1", ""): "rediss://queue.internal:6380/1",
}


@pytest.mark.parametrize("variables", list(DISPATCH_QUEUE_FROM_ENV))
def test_dispatch_queue_comes_from_the_environment(variables: tuple[str, str]) -> None:
    queue, redis_url = variables
    result = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        PRINT_DISPATCH_QUEUE,
        CLICKTOAGENT_DISPATCH_QUEUE=queue,
        REDIS_URL=redis_url,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == DISPATCH_QUEUE_FROM_ENV[variables]


def test_a_dispatch_queue_that_is_not_redis_stops_the_start() -> None:
    result = run_manage("check", CLICKTOAGENT_DISPATCH_QUEUE="amqp://u:pw@mq.internal/")
    assert result.returncode != 0
    assert "CLICKTOAGENT_DISPATCH_QUEUE must be empty, 'redis'" in result.stderr


PRINT_DATABASE_OPTIONS = (
    "from django.conf import settings; o = settings.DATABASES['default'].get('OPTIONS', {}); "
    "print(o.get('server_side_binding'), o.get('prepare_threshold'))"
)


@pytest.mark.parametrize(
    ("database_url", "prepared", "expected"),
    [
        ("postgres://postgres@127.0.0.1:5432/clicktoagent", "", "True 2"),
        ("postgres://postgres@127.0.0.1:5432/clicktoagent", "true", "True 2"),
        ("postgres://postgres@127.0.0.1:5432/clicktoagent", "false", "None None"),
        ("sqlite:////tmp/clicktoagent.sqlite3", "", "None None"),
    ],
)
def test_prepared_statements_on_postgresql_unless_turned_off(
    database_url: str, prepared: str, expected: str
) -> None:
    env = {"DATABASE_URL": database_url}
    if prepared:
        env["DATABASE_PREPARED_STATEMENTS"] = prepared
    result = run_manage("shell", "-v", "0", "-c", PRINT_DATABASE_OPTIONS, **env)
    assert result.stdout.strip() == expected, result.stderr


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_tests_on_postgresql_bind_parameters_on_the_server() -> None:
    # The PostgreSQL legs of CI run every test with the demo's settings: server-side
    # binding and prepared statements included.
    from django.db import connection

    with connection.cursor() as cursor:
        assert type(cursor.cursor).__name__ == "ServerBindingCursor"
    assert connection.connection.prepare_threshold == 2
