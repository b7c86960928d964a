"""The per-user call limit holds across processes: the demo under gunicorn with 4 workers.

Each worker is its own process with its own memory, so a count kept in memory lets
every worker admit the whole limit. The demo runs on a SQLite file (or the PostgreSQL
test database), pointed at the DialogTech emulator, without Redis and with it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connection

from clicktoagent.dialogtech.sandbox import SandboxServer
from tests.conftest import ACCESS_KEY, ROOT, SECRET_ACCESS_KEY, emptied_redis

from .test_throttles import TEST_REDIS_URL

LIMIT = 10
REQUESTS = 40
CALL = {"queue_id": "12345", "agent_id": "98765", "phone_to_call": "(312) 555-0123"}
TOKEN = "0123456789abcdef0123456789abcdef01234567"  # a test user's API token

SETUP = f"""
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
from clicktoagent.models import Agent, Queue
user = User.objects.create_user("integration")
user.user_permissions.add(Permission.objects.get(codename="place_call"))
Token.objects.create(user=user, key="{TOKEN}")
queue = Queue.objects.create(queue_id="12345", name="Sales")
Agent.objects.create(agent_id="98765", name="Dana Demo").queues.add(queue)
"""

pytestmark = pytest.mark.django_db(transaction=True)


def _postgres_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    user = s.get("USER") or "postgres"
    host = f"{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}"
    return f"postgres://{user}{password}@{host}/{s['NAME']}"


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )


class Demo:
    """The demo project under gunicorn, on an ephemeral port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "config.wsgi",
                    "--workers",
                    "4",
                    "--bind",
                    "127.0.0.1:0",
                    "--access-logfile",
                    "-",
                    "--access-logformat",
                    "ACCESS pid=%(p)s status=%(s)s",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            port = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
            if port and text.count("Booting worker") >= 4:
                self.url = f"http://127.0.0.1:{port.group(1)}"
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail(f"gunicorn did not start:\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def worker_pids(self) -> set[str]:
        return set(re.findall(r"ACCESS pid=<?(\d+)", self.log.read_text(errors="replace")))


@pytest.fixture
def demo_env(tmp_path: Path, sandbox: SandboxServer) -> dict[str, str]:
    """The demo's environment and database, with a user allowed LIMIT calls a minute."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLICKTOAGENT_", "DIALOGTECH_", "DJANGO_", "REDIS_", "TASKS_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CLICKTOAGENT_SAFE_CALLING_RULES": "none",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "TASKS_BACKEND": "immediate",
            "DIALOGTECH_BASE_URL": sandbox.url,
            "DIALOGTECH_ACCESS_KEY": ACCESS_KEY,
            "DIALOGTECH_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "CLICKTOAGENT_API_CREATE_THROTTLE_RATE": f"{LIMIT}/minute",
            "PYTHONPATH": str(ROOT),
        }
    )
    if connection.vendor == "postgresql":
        # The test database itself: this test's rows are committed (transactional_db).
        env["DATABASE_URL"] = _postgres_url()
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
        _manage(env, "migrate", "--no-input")
    _manage(env, "shell", "-c", SETUP)
    return env


@pytest.fixture
def redis_db() -> Iterator[Any]:
    with emptied_redis(TEST_REDIS_URL) as client:
        yield client


def _hammer(url: str) -> Counter[int]:
    def create(_: int) -> int:
        response = requests.post(
            f"{url}/clicktoagent/api/call-attempts/",
            json=CALL,
            headers={"Authorization": f"Token {TOKEN}"},
            timeout=60,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        return Counter(pool.map(create, range(REQUESTS)))


def _throttle_rows(env: dict[str, str]) -> int:
    if connection.vendor == "postgresql":
        from clicktoagent.models import ThrottleCounter

        return ThrottleCounter.objects.count()
    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM clicktoagent_throttlecounter").fetchone()[0])


def _run(env: dict[str, str], tmp_path: Path, sandbox: SandboxServer) -> Counter[int]:
    demo = Demo(env, tmp_path / "gunicorn.log")
    demo.start()
    try:
        statuses = _hammer(demo.url)
    finally:
        demo.stop()
    # The requests really were spread over several processes.
    assert len(demo.worker_pids()) > 1, demo.log.read_text(errors="replace")
    assert sum(statuses.values()) == REQUESTS
    assert statuses[201] + statuses[202] == LIMIT, statuses
    assert statuses[429] == REQUESTS - LIMIT, statuses
    assert len(sandbox.requests()) == LIMIT
    return statuses


def test_four_workers_without_redis_admit_exactly_the_limit(
    demo_env: dict[str, str], tmp_path: Path, sandbox: SandboxServer
) -> None:
    _run(demo_env, tmp_path, sandbox)
    assert _throttle_rows(demo_env) == 1


def test_four_workers_with_redis_admit_exactly_the_limit(
    demo_env: dict[str, str], tmp_path: Path, sandbox: SandboxServer, redis_db: Any
) -> None:
    _run({**demo_env, "REDIS_URL": TEST_REDIS_URL}, tmp_path, sandbox)
    assert _throttle_rows(demo_env) == 0
    assert any(b"clicktoagent:throttle:calls:user:" in key for key in redis_db.keys("*"))
