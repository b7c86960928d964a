"""Dispatch throughput: attempts per second through N RQ workers against the emulator.

    .venv/bin/python bench/dispatch.py --workers 1 2 4     # `make bench` runs it too

Needs PostgreSQL and Redis. It uses (and creates when missing) the database
``clicktoagent_bench`` on ``BENCH_PG`` (default ``postgres://postgres@127.0.0.1:5432``)
and Redis database 5 of ``BENCH_REDIS`` (default ``redis://127.0.0.1:6379``), starts
the emulator in this process and the workers as ``manage.py rqworker`` processes,
queues ``--attempts`` attempts and times until the last one is finished. Writes a
Markdown section to stdout (`make bench` stores it in bench/README.md) and one JSON
line per run to stderr. Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = "clicktoagent_bench"
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379") + "/5"


def ensure_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=300)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()

    ensure_database()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"{PG}/{DB_NAME}",
        TASKS_BACKEND="rq",
        REDIS_URL=REDIS_URL,
        LOG_LEVEL="WARNING",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    from clicktoagent.dialogtech.sandbox import SandboxServer, load_account
    from clicktoagent.models import Agent, CallAttempt, Queue
    from clicktoagent.services import call_attempt_create

    call_command("migrate", verbosity=0)
    queue, _ = Queue.objects.get_or_create(queue_id="12345", defaults={"name": "Sales"})
    agent, _ = Agent.objects.get_or_create(agent_id="98765", defaults={"name": "Dana Demo"})
    agent.queues.add(queue)
    client = redis.Redis.from_url(REDIS_URL)

    rows = []
    account = load_account(ROOT / "fixtures" / "sandbox_account.json")
    with SandboxServer(account) as sandbox:
        env = {
            **os.environ,
            "DIALOGTECH_BASE_URL": sandbox.url,
            "DIALOGTECH_ACCESS_KEY": account["access_key"],
            "DIALOGTECH_SECRET_ACCESS_KEY": account["secret_access_key"],
        }
        for count in args.workers:
            CallAttempt.objects.all().delete()
            client.flushdb()
            sandbox.reset()
            for i in range(args.attempts):
                call_attempt_create(
                    queue_id="12345",
                    agent_id="98765",
                    phone_to_call=f"312200{i % 10000:04d}",
                    source="command",
                )
            procs = [
                subprocess.Popen(
                    [sys.executable, "manage.py", "rqworker", "--with-scheduler", "default"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for _ in range(count)
            ]
            try:
                # Time from the first dispatch (workers booted) to the last outcome.
                deadline = time.monotonic() + args.timeout
                while not CallAttempt.objects.exclude(status="pending").exists():
                    if time.monotonic() > deadline:
                        raise SystemExit("no worker started in time")
                    time.sleep(0.01)
                started = time.monotonic()
                while CallAttempt.objects.filter(status__in=["pending", "dispatching"]).exists():
                    if time.monotonic() > deadline:
                        raise SystemExit("attempts still unfinished at the timeout")
                    time.sleep(0.05)
                elapsed = time.monotonic() - started
            finally:
                for proc in procs:
                    proc.send_signal(signal.SIGTERM)
                for proc in procs:
                    proc.wait(timeout=30)
            placed = CallAttempt.objects.filter(status="placed").count()
            rate = args.attempts / elapsed
            rows.append((count, args.attempts, placed, elapsed, rate))
            result = {
                "workers": count,
                "attempts": args.attempts,
                "placed": placed,
                "seconds": round(elapsed, 2),
                "per_second": round(rate, 1),
            }
            print(json.dumps(result), file=sys.stderr)
        CallAttempt.objects.all().delete()
        client.flushdb()

    lines = [
        "Attempts queued on Redis, dispatched by N `manage.py rqworker` processes (one",
        "forked job process per call) against the local DialogTech emulator, PostgreSQL as",
        "the database; time runs from the first dispatch to the last outcome stored,",
        "including each job's fork and its own database connection.",
        "",
        "| workers | attempts | placed | seconds | attempts/s |",
        "| ---: | ---: | ---: | ---: | ---: |",
        *(f"| {w} | {a} | {p} | {s:.2f} | {r:.1f} |" for w, a, p, s, r in rows),
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
