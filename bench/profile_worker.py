"""Where one dispatch job spends its time in an app worker.

    python bench/profile_worker.py [--jobs 300]

Queues ``--jobs`` attempts (RQ backend, PostgreSQL, Redis database 8), then runs
``manage.py rqworker --burst`` under cProfile until the queue is empty, against the
emulator in its own process. Writes bench/results/profile-worker.md.
"""

from __future__ import annotations

import argparse
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, emulator, machine, write_section
from bench.profiling import area_rows
from bench.workers import setup

AREAS = [
    ("rq: execute_job (everything for one job)", "clicktoagent/dispatch/workers.py", "execute_job"),
    ("rq: perform_job", "rq/worker/base.py", "perform_job"),
    ("the task: call_attempt_send", "clicktoagent/dispatch/services.py", "call_attempt_send"),
    ("django-tasks-rq: task_result (signals)", "django_tasks_rq/backend.py", "task_result"),
    ("rq: _finalize_success (results, registries)", "rq/worker/base.py", "_finalize_success"),
    ("rq: dequeue_job_and_maintain_ttl", "rq/worker/base.py", "dequeue_job_and_maintain_ttl"),
    ("rq: heartbeat", "rq/worker/base.py", "heartbeat"),
    ("DialogTech HTTP request", "clicktoagent/dialogtech/client.py", "click_to_agent"),
    (
        "last-moment claim check (SELECT)",
        "clicktoagent/dispatch/services.py",
        "_still_ours_to_send",
    ),
    ("outcome recording", "clicktoagent/dispatch/outcome.py", "call_attempt_finish"),
    ("circuit breaker: circuit_hold", "clicktoagent/dispatch/breaker.py", "circuit_hold"),
    (
        "circuit breaker: record_reached",
        "clicktoagent/dispatch/breaker.py",
        "circuit_record_reached",
    ),
    ("deadline timer thread start", "threading.py", "start"),
    ("SQL: psycopg execute (round trips)", "psycopg/cursor.py", "execute"),
    ("SQL: Django compile (as_sql)", "django/db/models/sql/compiler.py", "as_sql"),
    ("Redis commands (all)", "redis/client.py", "execute_command"),
    ("logging (all records)", "logging/__init__.py", "_log"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    args = parser.parse_args()
    header = machine()
    with emulator() as base_url, tempfile.TemporaryDirectory() as tmp:
        _, env = setup(base_url)
        import redis

        from clicktoagent.models import CallAttempt
        from clicktoagent.services import call_attempt_create

        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
        CallAttempt.objects.all().delete()
        for i in range(args.jobs):
            call_attempt_create(
                queue_id="12345", agent_id="98765", phone_to_call=f"3125{i:06d}", source="command"
            )
        out = Path(tmp) / "worker.prof"
        subprocess.run(
            [
                *(PYTHON, "-m", "cProfile", "-o", str(out)),
                *("manage.py", "rqworker", "--burst", "default"),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        placed = CallAttempt.objects.filter(status="placed").count()
        stats = pstats.Stats(str(out))
    rows = area_rows(stats, AREAS, args.jobs)
    write_section(
        "profile-worker",
        "\n".join(
            [
                "## Profile of one dispatch job in an app worker (bench/profile_worker.py)",
                "",
                f"Machine: {header}. `manage.py rqworker --burst` under cProfile (which slows "
                f"Python code down) over {args.jobs} queued attempts ({placed} placed), "
                "PostgreSQL, Redis, emulator without latency. Per job:",
                "",
                "| where (cumulative, per job) | ms | calls |",
                "| --- | ---: | ---: |",
                *rows,
            ]
        ),
    )


if __name__ == "__main__":
    main()
