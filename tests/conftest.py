"""Shared fixtures: the DialogTech emulator on loopback, demo data, service guards."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import Agent, CallAttempt, Queue

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``manage.py *args`` of the demo project in a new process, with ``env`` over an
    environment cleared of the project's own variables."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DIALOGTECH_", "CLICKTOAGENT_", "DATABASE_URL"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


SANDBOX_ACCOUNT = ROOT / "fixtures" / "sandbox_account.json"
ACCESS_KEY = "sandbox-access-key"
SECRET_ACCESS_KEY = "sandbox-secret-access-key"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The Redis database of the tests that need one (queues, shared cache); flushed by them.
REDIS_URL = os.environ.get("SCALE_REDIS_URL", "redis://127.0.0.1:6379/5")


def skip_or_fail(reason: str) -> None:
    """Skip on a laptop without the service; under CI=true a missing service fails."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: services must be available)")
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    # Django's deprecations are errors. Each version has its own RemovedInDjango*Warning
    # classes (6.1's is a PendingDeprecationWarning), so they are listed here, not in
    # pyproject.toml, where a class missing from the installed Django stops pytest.
    from django.utils import deprecation

    for name in sorted(vars(deprecation)):
        if name.startswith("RemovedInDjango"):
            config.addinivalue_line("filterwarnings", f"error::{deprecation.__name__}.{name}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://...")


@pytest.fixture(scope="session")
def sandbox_account() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SANDBOX_ACCOUNT.read_text())
    return data


@pytest.fixture(scope="session")
def _sandbox_server(sandbox_account: dict[str, Any]) -> Iterator[SandboxServer]:
    server = SandboxServer(sandbox_account).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(_sandbox_server: SandboxServer, settings: Any) -> Iterator[SandboxServer]:
    """The emulator, reset, with CLICKTOAGENT pointing at it."""
    _sandbox_server.reset()
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "BASE_URL": _sandbox_server.url,
        "ACCESS_KEY": ACCESS_KEY,
        "SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "READ_TIMEOUT": 2.0,
        "CONNECT_TIMEOUT": 1.0,
        "RETRY_BACKOFF": 0.01,
    }
    yield _sandbox_server
    _sandbox_server.reset()


@pytest.fixture
def demo_data(db: None) -> dict[str, Any]:
    """Queues and agents matching fixtures/sandbox_account.json."""
    sales = Queue.objects.create(queue_id="12345", name="Sales")
    support = Queue.objects.create(queue_id="12346", name="Support")
    dana = Agent.objects.create(agent_id="98765", name="Dana Demo", phone="3125550101")
    sam = Agent.objects.create(agent_id="98766", name="Sam Sample", phone="3125550102")
    casey = Agent.objects.create(agent_id="98767", name="Casey Closed", phone="3125550103")
    dana.queues.add(sales)
    sam.queues.add(sales)
    casey.queues.add(support)
    return {"sales": sales, "support": support, "dana": dana, "sam": sam, "casey": casey}


# One call of the demo data: Dana (98765) in Sales (12345) rings a Chicago number.
CALL = {"queue_id": "12345", "agent_id": "98765", "phone_to_call": "(312) 555-0123"}


def create_call(**overrides: Any) -> CallAttempt:
    """An attempt of :data:`CALL` (with ``overrides``) from the command, as stored after
    its dispatch (the immediate backend places it within the call)."""
    from clicktoagent.services import call_attempt_create

    attempt = call_attempt_create(**{**CALL, "source": "command", **overrides})
    attempt.refresh_from_db()
    return attempt


@pytest.fixture(autouse=True)
def _circuit_breaker_closed() -> Iterator[None]:
    """Each test starts with the circuit breaker closed (its state is in the cache)."""
    from clicktoagent.dispatch.breaker import circuit_reset

    circuit_reset()
    yield
    circuit_reset()


def run_together(count: int, work: Callable[[], Any]) -> list[Any]:
    """Run ``work`` in ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)
    results: list[Any] = []
    lock = threading.Lock()

    def target() -> None:
        try:
            barrier.wait()
            outcome = work()
        except Exception as err:  # collected and asserted on by the caller
            outcome = err
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.fixture(autouse=True)
def _safe_calling_rules(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Tests of other features run with no safe-calling rules (they place calls at any
    hour); a test marked ``safe_calling`` keeps the default (all rules). The default is
    changed, so a test that replaces ``CLICKTOAGENT`` whole still runs without them."""
    from clicktoagent.conf import DEFAULTS, app_settings

    if request.node.get_closest_marker("safe_calling") is None:
        monkeypatch.setitem(DEFAULTS, "SAFE_CALLING_RULES", ())
    app_settings.reload()
    yield
    app_settings.reload()


def redis_or_skip(url: str, *, needed_for: str = "") -> Any:
    """A client of the Redis database ``url``, emptied; skips (fails under CI=true)
    when that Redis does not answer."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        skip_or_fail(f"needs Redis at {url}{needed_for}")
    client.flushdb()
    return client


@contextlib.contextmanager
def emptied_redis(url: str) -> Iterator[Any]:
    """:func:`redis_or_skip`, emptied again afterwards (if that Redis still answers)."""
    import redis

    client = redis_or_skip(url)
    try:
        yield client
    finally:
        with contextlib.suppress(redis.exceptions.ConnectionError):
            client.flushdb()


@pytest.fixture
def redis_client() -> Iterator[Any]:
    """A client of :data:`REDIS_URL`, whose database is emptied before and after."""
    with emptied_redis(REDIS_URL) as client:
        yield client
