"""Where one attempt spends its time in an app worker.

    python bench/profile_worker.py [--jobs 300] [--rq] [--guardrails]

Queues ``--jobs`` attempts (PostgreSQL, Redis database 8) on the Redis dispatch queue,
then runs ``manage.py clicktoagent_dispatcher --burst`` under cProfile until the queue
is empty, against the emulator in its own process; with ``--rq``, RQ jobs and
``manage.py rqworker --burst`` instead. With ``--guardrails`` every guardrail is on, as
in bench/guardrails.py (the five rules, a daily cap for every number, CRM write-back to
the HubSpot stand-in; no do-not-call entries are added) and the profile is written to
bench/results/profile-worker-guardrails.md instead.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    GUARDED_FIELDS,
    PYTHON,
    ROOT,
    emulator,
    emulator_and_hubspot,
    guardrails_env,
    machine,
    write_section,
)
from bench.profiling import area_rows
from bench.workers import setup

AREAS = [
    ("dispatcher: one attempt (everything)", "clicktoagent/dispatch/dispatcher.py", "_dispatch"),
    ("dispatcher: pop", "clicktoagent/dispatch/redis_queue.py", "dispatch_queue_pop"),
    ("close_old_connections", "django/db/__init__.py", "close_old_connections"),
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
    ("safe-calling rules (call_check)", "clicktoagent/policy/checks.py", "call_check"),
    ("CRM write-back: row and its task", "clicktoagent/crm/services.py", "crm_writeback_schedule"),
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
    parser.add_argument("--rq", action="store_true", help="profile an RQ worker instead")
    parser.add_argument("--guardrails", action="store_true", help="with every guardrail on")
    args = parser.parse_args()
    header = machine()
    fields: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        if args.guardrails:
            base_url, crm = stack.enter_context(emulator_and_hubspot())
            fields = GUARDED_FIELDS
        else:
            base_url = stack.enter_context(emulator())
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        _, env = setup(base_url)
        if args.guardrails:
            env = {**env, **guardrails_env(crm)}  # for the dispatcher
        if not args.rq:
            from django.conf import settings

            # This process queues the attempts as the web processes would.
            env = {**env, "CLICKTOAGENT_DISPATCH_QUEUE": "redis"}
            settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "DISPATCH_QUEUE": env["REDIS_URL"]}
        import redis

        from clicktoagent.models import CallAttempt
        from clicktoagent.services import call_attempt_create

        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
        CallAttempt.objects.all().delete()
        for i in range(args.jobs):
            call_attempt_create(
                queue_id="12345",
                agent_id="98765",
                phone_to_call=f"3125{i:06d}",
                source="command",
                **fields,
            )
        out = Path(tmp) / "worker.prof"
        worker = ("clicktoagent_dispatcher", "--burst")
        subprocess.run(
            [
                *(PYTHON, "-m", "cProfile", "-o", str(out)),
                "manage.py",
                *(("rqworker", "--burst", "default") if args.rq else worker),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        placed = CallAttempt.objects.filter(status="placed").count()
        stats = pstats.Stats(str(out))
        if os.environ.get("BENCH_KEEP_PROFILE"):
            stats.dump_stats(os.environ["BENCH_KEEP_PROFILE"])
    rows = area_rows(stats, AREAS, args.jobs)
    part = "profile-worker-guardrails" if args.guardrails else "profile-worker"
    guarded = ", every guardrail on" if args.guardrails else ""
    write_section(
        part,
        "\n".join(
            [
                f"## Profile of one attempt in an app worker{guarded} (bench/profile_worker.py)",
                "",
                f"Machine: {header}. `manage.py "
                f"{'rqworker --burst' if args.rq else 'clicktoagent_dispatcher --burst'}` "
                "under cProfile (which slows "
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
