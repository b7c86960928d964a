"""Real RQ worker (or dispatcher) processes, Redis and PostgreSQL, and a DialogTech
emulator they all hit.

The test process and the workers share pytest-django's PostgreSQL test database (the
workers get its name through ``DATABASE_URL``), Redis database 5 (queue, scheduler,
dispatch queue, circuit breaker and request cap) and one :class:`SandboxServer` on a
fixed port, which a test may stop and start again to refuse connections.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from clicktoagent import taskcompat
from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt
from tests.conftest import (
    ACCESS_KEY,
    REDIS_URL,
    ROOT,
    SANDBOX_ACCOUNT,
    SECRET_ACCESS_KEY,
    skip_or_fail,
)

QUEUE = "default"
FINISHED = {CallAttempt.Status.PLACED, CallAttempt.Status.FAILED, CallAttempt.Status.UNKNOWN}

# What every worker and the test process use (short timeouts keep the suite quick).
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 1.5
RETRY_BACKOFF = 0.2
MAX_TRIES = 4
BREAKER_THRESHOLD = 5
BREAKER_COOLDOWN = 1.0


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {timeout} s for {predicate.__doc__ or predicate}")
        time.sleep(interval)


class Sandbox:
    """A SandboxServer on a fixed port that can be stopped and started again."""

    def __init__(self, account: dict[str, Any]) -> None:
        self.account = account
        self.server = SandboxServer(account).start()
        self.port = self.server.port
        self.url = self.server.url
        # Stopped servers: a request in flight when one stopped is logged by it after
        # the stop (its handler thread finishes), so their logs are read when asked.
        self._stopped: list[SandboxServer] = []
        self._faults: list[dict[str, Any]] = []

    def stop(self) -> None:
        """Stop listening: connections are refused until :meth:`start`."""
        self._faults = self.server.faults()
        self.server.stop()
        self._stopped.append(self.server)

    def start(self) -> None:
        """Listen again on the same port, with the faults still queued."""
        self.server = SandboxServer(self.account, port=self.port).start()
        for fault in self._faults:
            self.server.add_fault(
                fault["fault"],
                count=fault["count"],
                seconds=fault["seconds"],
                phone_to_call=fault["phone_to_call"],
            )

    def requests(self) -> list[dict[str, Any]]:
        earlier = [entry for server in self._stopped for entry in server.requests()]
        return earlier + self.server.requests()

    def requests_for(self, phone: str) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["params"].get("phone_to_call") == phone]

    def add_fault(self, name: str, **kwargs: Any) -> None:
        self.server.add_fault(name, **kwargs)


class Workers:
    """``manage.py rqworker`` processes, as `make worker` starts them."""

    command = ["rqworker", "--with-scheduler", QUEUE]

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int = 1) -> list[subprocess.Popen[bytes]]:
        started = []
        for _ in range(count):
            log = open(self.log_dir / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
            proc = subprocess.Popen(
                [sys.executable, "manage.py", *self.command],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            self.procs.append(proc)
            started.append(proc)
        wait_for(self._all_registered, timeout=30)
        return started

    def _all_registered(self) -> bool:
        """every live worker has registered with Redis"""
        import redis
        from rq import Worker

        alive = [p for p in self.procs if p.poll() is None]
        try:
            pids = {w.pid for w in Worker.all(connection=redis.Redis.from_url(REDIS_URL))}
        except redis.exceptions.ConnectionError:
            return False
        return all(p.pid in pids for p in alive)

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    @staticmethod
    def children(proc: subprocess.Popen[bytes]) -> list[int]:
        """A worker's child processes: its work horse and its scheduler."""
        try:
            return [
                int(pid)
                for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            ]
        except OSError:
            return []

    @classmethod
    def horses(cls, proc: subprocess.Popen[bytes]) -> list[int]:
        """The work-horse children of a worker (each runs in its own process group)."""
        horses = []
        for child in cls.children(proc):
            try:
                if os.getpgid(child) == child:
                    horses.append(child)
            except ProcessLookupError:
                continue
        return horses

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a worker and its children at once, as when its machine dies."""
        children = self.children(proc)
        os.kill(proc.pid, signal.SIGKILL)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        family = [child for proc in self.alive() for child in self.children(proc)]
        for proc in self.alive():
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs:
            for horse in self.horses(proc):
                if time.monotonic() > deadline:
                    os.killpg(horse, signal.SIGKILL)
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for horse in self.horses(proc):
                    os.killpg(horse, signal.SIGKILL)
                proc.kill()
                proc.wait(timeout=5)
        # Nothing outlives the test, not even the scheduler of a worker that was killed.
        for child in family:
            with contextlib.suppress(OSError):
                if b"rqworker" in Path(f"/proc/{child}/cmdline").read_bytes():
                    os.kill(child, signal.SIGKILL)

    def logs(self, tail: int | None = None) -> str:
        return "\n".join(
            f"--- {path.name}\n" + path.read_text(errors="replace")[-(tail or 0) :]
            for path in sorted(self.log_dir.glob("worker-*.log"))
        )


class Dispatchers(Workers):
    """``manage.py clicktoagent_dispatcher`` processes, as `make dispatcher` starts them
    (calls on the Redis dispatch queue; no other task runs in them)."""

    command = ["clicktoagent_dispatcher"]

    def _all_registered(self) -> bool:
        """every live dispatcher has started its loop"""
        started = self.logs()
        return all(f"dispatcher {p.pid} started" in started for p in self.alive())


def _database_url() -> str:
    s = connection.settings_dict
    user = quote(s.get("USER") or "postgres")
    password = f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else ""
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{s['NAME']}"


@pytest.fixture
def scale_sandbox() -> Iterator[Sandbox]:
    sandbox = Sandbox(json.loads(SANDBOX_ACCOUNT.read_text()))
    yield sandbox
    sandbox.server.stop()


@pytest.fixture
def scale(
    transactional_db: None,
    redis_client: Any,
    demo_data: dict[str, Any],
    scale_sandbox: Sandbox,
    settings: Any,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[dict[str, Any]]:
    """The scale-out setup: RQ backend and Redis cache here, and a way to start workers:
    RQ workers, or with ``indirect`` parameter ``"dispatcher"`` dispatchers, with the
    calls on the Redis dispatch queue (``DISPATCH_QUEUE``) here and in them."""
    if connection.vendor != "postgresql":
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://...")
    dispatcher = getattr(request, "param", "rq") == "dispatcher"
    settings.TASKS = {"default": {"BACKEND": taskcompat.RQ_BACKEND, "QUEUES": [QUEUE]}}
    settings.RQ_QUEUES = {QUEUE: {"URL": REDIS_URL}}
    settings.RQ = {"JOB_CLASS": taskcompat.RQ_JOB_CLASS}
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "BASE_URL": scale_sandbox.url,
        "ACCESS_KEY": ACCESS_KEY,
        "SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "CONNECT_TIMEOUT": CONNECT_TIMEOUT,
        "READ_TIMEOUT": READ_TIMEOUT,
        "RETRY_BACKOFF": RETRY_BACKOFF,
        "MAX_TRIES": MAX_TRIES,
        "CIRCUIT_BREAKER_THRESHOLD": BREAKER_THRESHOLD,
        "CIRCUIT_BREAKER_COOLDOWN": BREAKER_COOLDOWN,
        "DISPATCH_QUEUE": REDIS_URL if dispatcher else None,
    }
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # Workers place calls at any hour here; tests/policy covers the rules.
        "CLICKTOAGENT_SAFE_CALLING_RULES": "none",
        "DATABASE_URL": _database_url(),
        "TASKS_BACKEND": "rq",
        "REDIS_URL": REDIS_URL,
        "DIALOGTECH_BASE_URL": scale_sandbox.url,
        "DIALOGTECH_ACCESS_KEY": ACCESS_KEY,
        "DIALOGTECH_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "DIALOGTECH_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        "DIALOGTECH_TIMEOUT": str(READ_TIMEOUT),
        "CLICKTOAGENT_RETRY_BACKOFF": str(RETRY_BACKOFF),
        "CLICKTOAGENT_MAX_TRIES": str(MAX_TRIES),
        "CLICKTOAGENT_CIRCUIT_BREAKER_THRESHOLD": str(BREAKER_THRESHOLD),
        "CLICKTOAGENT_CIRCUIT_BREAKER_COOLDOWN": str(BREAKER_COOLDOWN),
        "LOG_FORMAT": "json",
        "CLICKTOAGENT_DISPATCH_QUEUE": REDIS_URL if dispatcher else "",
    }
    workers = (Dispatchers if dispatcher else Workers)(env, tmp_path)
    try:
        yield {"workers": workers, "sandbox": scale_sandbox, "env": env, "redis": redis_client}
    finally:
        workers.stop()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(workers.logs(tail=4000))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


def statuses(ids: list[int]) -> dict[int, str]:
    return dict(CallAttempt.objects.filter(pk__in=ids).values_list("pk", "status"))


def all_finished(ids: list[int]) -> Callable[[], bool]:
    def check() -> bool:
        """every attempt to end placed, failed or unknown"""
        return set(statuses(ids).values()) <= FINISHED

    return check
