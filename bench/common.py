"""Shared pieces of the benchmarks: services, processes, load, memory and the results files.

Every part writes its Markdown section to ``bench/results/<part>.md`` and one JSON line
per measurement to stderr; ``bench/run.sh`` puts the sections together in
bench/README.md.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
#: Prefix of the PostgreSQL databases the parts make and drop (``cta_bench_workers``...);
#: another prefix starting with ``cta_bench`` keeps two checkouts' runs apart.
PG_DB_PREFIX = os.environ.get("BENCH_PG_DB_PREFIX", "cta_bench")
#: Redis databases of the benchmarks (8: the app's queue and cache; 9: the limit worker's).
REDIS_APP_DB = 8
REDIS_LIMIT_DB = 9
#: Where SQLite databases go: a RAM disk (tmpfs).
RAM_DIR = Path(os.environ.get("BENCH_RAM_DIR", "/dev/shm"))  # noqa: S108
ACCOUNT = json.loads((ROOT / "fixtures" / "sandbox_account.json").read_text())
ACCESS_KEY = ACCOUNT["access_key"]
SECRET_ACCESS_KEY = ACCOUNT["secret_access_key"]
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"clicktoagent-bench-webhook-secret!").decode()
TOKEN = "0123456789abcdef0123456789abcdef01234567"  # noqa: S105  # the bench user's


def log(**values: Any) -> None:
    print(json.dumps(values), file=sys.stderr, flush=True)


def machine() -> str:
    from datetime import UTC, datetime

    import django

    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    return (
        f"{datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"load average {load} when the part started"
    )


def write_section(part: str, text: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{part}.md").write_text(text.rstrip("\n") + "\n")
    print(text)


def write_summary(part: str, rows: list[tuple[str, str, str, str]]) -> None:
    """Rows of the results table at the top of bench/README.md: item, figures, target,
    verdict."""
    RESULTS.mkdir(exist_ok=True)
    text = "".join(f"| {' | '.join(row)} |\n" for row in rows)
    (RESULTS / f"{part}.summary").write_text(text)


def verdict(ratio: float, target: float) -> str:
    return f"**pass** (≥ {target:g})" if ratio >= target else f"**fail** (< {target:g})"


# --------------------------------------------------------------------------- services


def pg_database(name: str, *, fresh: bool = True) -> str:
    """A PostgreSQL database of the benchmarks (made again when ``fresh``); its URL."""
    import psycopg

    assert name.startswith("cta_bench")
    name = PG_DB_PREFIX + name.removeprefix("cta_bench")
    assert name.startswith("cta_bench"), "BENCH_PG_DB_PREFIX must start with cta_bench"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG}/{name}"


def redis_url(db: int) -> str:
    return f"{REDIS}/{db}"


def services_up() -> bool:
    try:
        import psycopg
        import redis

        psycopg.connect(f"{PG}/postgres", connect_timeout=3).close()
        redis.Redis.from_url(redis_url(REDIS_APP_DB), socket_connect_timeout=3).ping()
    except Exception:
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port} after {timeout} s")


def stop(proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def emulator(latency: float = 0.0) -> Iterator[str]:
    """The DialogTech emulator in its own process (``clicktoagent_sandbox``); its URL."""
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [
            PYTHON,
            "manage.py",
            "clicktoagent_sandbox",
            "--port",
            str(port),
            "--latency",
            str(latency),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}/ibp_api.php"
    finally:
        stop(proc)


@contextlib.contextmanager
def emulator_and_hubspot() -> Iterator[tuple[str, dict[str, str]]]:
    """The emulator with the CRM stand-ins (``clicktoagent_sandbox --crm``) in its own
    process: its URL, and the settings that point the HubSpot write-back at its stand-in
    (``HUBSPOT_API_BASE_URL``, ``HUBSPOT_ACCESS_TOKEN``)."""
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [
            *(PYTHON, "manage.py", "clicktoagent_sandbox", "--port", str(port)),
            *("--crm", "--crm-port", "0"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        printed: dict[str, str] = {}
        wanted = {"HUBSPOT_API_BASE_URL", "HUBSPOT_ACCESS_TOKEN"}
        for line in proc.stdout:  # the command prints NAME=value lines once serving
            name, _, value = line.strip().partition("=")
            printed[name] = value
            if wanted <= set(printed):
                break
        if not wanted <= set(printed):
            raise SystemExit(f"clicktoagent_sandbox --crm printed {printed}")
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        wait_port(port)
        yield f"http://127.0.0.1:{port}/ibp_api.php", {k: printed[k] for k in sorted(wanted)}
    finally:
        stop(proc)


def app_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of the demo project's processes in a benchmark."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DIALOGTECH_ACCESS_KEY": ACCESS_KEY,
        "DIALOGTECH_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        # Benchmarks measure the call path; the safe-calling rules are measured apart.
        "CLICKTOAGENT_SAFE_CALLING_RULES": "none",
        "CLICKTOAGENT_API_CREATE_THROTTLE_RATE": "none",
        "CLICKTOAGENT_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    env.update(extra)
    return env


#: Every safe-calling rule (bench/guardrails.py).
ALL_RULES = "calling_hours,do_not_call,daily_cap,recording_consent,queue_hours"
#: The calls of bench/guardrails.py: written back to a HubSpot contact, recorded (the
#: numbers are in Illinois, an all-party-consent state: the consent rule adjusts them).
GUARDED_FIELDS: dict[str, Any] = {"contact_ref": "hubspot:contact:501", "record": 1}
#: Entries put on the do-not-call list: +13125000000 and up, none of the numbers called
#: (3122..., 3123...).
DO_NOT_CALL_ENTRIES = 100_000


def guardrails_env(crm: dict[str, str]) -> dict[str, str]:
    """Every guardrail on (the variables over :func:`app_env`'s): all five rules; a
    per-number daily cap for every number, high enough to let every call through, so
    that the count runs on every call; the United States' calling window opened all
    day (the benchmarks run at any hour: the window is still checked on every call);
    CRM write-back to the HubSpot stand-in (``crm``, from :func:`emulator_and_hubspot`)."""
    return {
        "CLICKTOAGENT_SAFE_CALLING_RULES": ALL_RULES,
        "CLICKTOAGENT_DAILY_CAP_PER_NUMBER": "1000000",
        "CLICKTOAGENT_SAFE_CALLING_REGIONS_JSON": json.dumps(
            {"US": {"calling_hours": ["mon-sun 00:00-24:00"]}}
        ),
        **crm,
    }


FILL_DO_NOT_CALL = """
from clicktoagent.models import DoNotCallEntry
DoNotCallEntry.objects.bulk_create(
    (
        DoNotCallEntry(phone_number=f"+13125{i:06d}", source="bench")
        for i in range(COUNT)
    ),
    batch_size=5000,
)
"""


def fill_do_not_call(env: dict[str, str], count: int = DO_NOT_CALL_ENTRIES) -> None:
    """Put ``count`` numbers (none that the benchmarks call) on the do-not-call list."""
    manage(env, "shell", "-c", f"COUNT = {count}\n{FILL_DO_NOT_CALL}")


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


SETUP_DEMO = """
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
from clicktoagent.models import Agent, Queue
queue, _ = Queue.objects.get_or_create(queue_id="12345", defaults={"name": "Sales"})
agent, _ = Agent.objects.get_or_create(agent_id="98765", defaults={"name": "Dana"})
agent.queues.add(queue)
user, _ = User.objects.get_or_create(username="bench")
user.user_permissions.add(Permission.objects.get(codename="place_call"))
Token.objects.filter(user=user).delete()
Token.objects.create(user=user, key=TOKEN)
"""


def setup_app_database(env: dict[str, str]) -> None:
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "shell", "-c", f"TOKEN = {TOKEN!r}\n{SETUP_DEMO}")


def sqlite_wal(path: Path) -> None:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


@contextlib.contextmanager
def gunicorn(
    wsgi: str, env: dict[str, str], *, workers: int = 2, cwd: Path = ROOT
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    proc = subprocess.Popen(
        [
            *(PYTHON, "-m", "gunicorn", wsgi, "--bind", f"127.0.0.1:{port}"),
            *("--workers", str(workers), "--worker-class", "sync", "--log-level", "warning"),
            *("--timeout", "120"),
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        stop(proc)


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rss_kib(pid: int) -> int:
    """Resident set size of one process, from /proc (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# --------------------------------------------------------------------------- load


@dataclass
class LoadResult:
    requests: int
    seconds: float
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000

    def row(self, name: str) -> str:
        """The result as a row of the load tables (side, requests, statuses, seconds,
        rate, p50 / p95 in ms)."""
        return (
            f"| {name} | {self.requests} | {self.statuses} | {self.seconds:.2f} | "
            f"{self.rate:.1f} | {self.percentile(0.5):.1f} / {self.percentile(0.95):.1f} |"
        )

    def log(self, part: str, **labels: Any) -> None:
        """One JSON line with the raw figures (bench/run.sh keeps them in the log)."""
        log(
            part=part,
            **labels,
            requests=self.requests,
            seconds=round(self.seconds, 3),
            per_second=round(self.rate, 1),
            statuses=self.statuses,
        )


def load(
    url: str,
    bodies: list[tuple[bytes, dict[str, str]]],
    *,
    clients: int = 4,
    on_progress: Callable[[int], None] | None = None,
) -> LoadResult:
    """POST every body once, from ``clients`` threads, each on its own connection
    (http.client: the cheapest client, so the server is what is measured)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    lock = threading.Lock()
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    position = iter(range(len(bodies)))
    done = [0]

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                break
            body, headers = bodies[index]
            t0 = time.perf_counter()
            for _ in range(2):  # once more on a connection the server had closed
                try:
                    conn.request("POST", parts.path, body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    break
                except (http.client.HTTPException, OSError):
                    conn.close()
                    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, 60)
            else:
                raise SystemExit(f"{url} did not answer")
            elapsed = time.perf_counter() - t0
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(elapsed)
                done[0] += 1
                count = done[0]
            if on_progress is not None:
                on_progress(count)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LoadResult(len(bodies), time.perf_counter() - started, statuses, latencies)


def api_bodies(
    count: int, *, offset: int = 0, extra: dict[str, Any] | None = None
) -> list[tuple[bytes, dict[str, str]]]:
    headers = {"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"}
    return [
        (
            json.dumps(
                {
                    "queue_id": "12345",
                    "agent_id": "98765",
                    # Distinct valid numbers clear of the emulator's fault numbers.
                    "phone_to_call": f"3122{(offset + i) % 1_000_000:06d}",
                    **(extra or {}),
                }
            ).encode(),
            headers,
        )
        for i in range(count)
    ]


def webhook_bodies(
    count: int, *, extra: dict[str, Any] | None = None
) -> list[tuple[bytes, dict[str, str]]]:
    """Standard Webhooks deliveries, signed before the clock starts."""
    from datetime import UTC, datetime

    from standardwebhooks import Webhook

    webhook = Webhook(WEBHOOK_SECRET)
    now = datetime.now(tz=UTC)
    bodies = []
    for i in range(count):
        msg_id = f"msg_bench_{time.time_ns()}_{i}"
        body = json.dumps(
            {
                "phone_to_call": f"3123{i:06d}",
                "queue_id": "12345",
                "agent_id": "98765",
                **(extra or {}),
            }
        )
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": webhook.sign(msg_id, now, body),
        }
        bodies.append((body.encode(), headers))
    return bodies
