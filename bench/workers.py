"""Dispatch workers: one app worker against the limit worker, and scaling with latency.

    python bench/workers.py [--attempts 600]            # throughput: app vs limit
    python bench/workers.py --scaling [--latency 0.2]   # 1, 4 and 8 dispatchers

The app's workers are ``manage.py clicktoagent_dispatcher`` processes (the Redis
dispatch queue) and, for comparison, ``manage.py rqworker`` processes
(clicktoagent.dispatch.workers.Worker), on Redis database 8 and a PostgreSQL database of
their own; the limit worker (bench/limit/worker.py) pops ids from Redis database 9 and
works on its own table. The attempts are made first and their ids pushed (or the RQ
queue resumed) once every worker is up, so the clock only runs while they all are;
throughput is taken from the attempts' own timestamps: the attempts finished between
the 10th and the 90th percentile of finish times, over that time (start-up and the last
stragglers excluded). Targets: app ≥ 0.5 x limit; with the
emulator answering after 200 ms, 4 workers ≥ 3 x one worker and 8 ≥ 6 x.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    PYTHON,
    REDIS_APP_DB,
    REDIS_LIMIT_DB,
    ROOT,
    TOKEN,
    app_env,
    emulator,
    log,
    machine,
    manage,
    pg_database,
    redis_url,
    stop,
    verdict,
    write_section,
    write_summary,
)

DB = "cta_bench_workers"


def steady_rate(finished: list[float]) -> float:
    """Attempts per second between the 10th and 90th percentile of finish times."""
    times = sorted(finished)
    low, high = int(len(times) * 0.1), int(len(times) * 0.9)
    return (high - low) / (times[high] - times[low])


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"still waiting for {what} after {timeout} s")
        time.sleep(0.05)


def app_workers(
    env: dict[str, str],
    count: int,
    attempts: int,
    fields: dict[str, Any] | None = None,
    dispatcher: bool = False,
) -> dict[str, Any]:
    """Queue ``attempts`` attempts (with ``fields`` besides queue, agent and number),
    run ``count`` app workers: ``manage.py rqworker`` processes, or
    with ``dispatcher`` ``manage.py clicktoagent_dispatcher`` processes on the Redis
    dispatch queue; their figures."""
    import redis
    from rq import Worker
    from rq.suspension import resume, suspend

    from clicktoagent.dispatch.redis_queue import KEY
    from clicktoagent.models import CallAttempt
    from clicktoagent.services import call_attempt_create

    queue = redis.Redis.from_url(env["REDIS_URL"])
    queue.flushdb()
    CallAttempt.objects.all().delete()
    suspend(queue)
    ids = [
        call_attempt_create(
            queue_id="12345",
            agent_id="98765",
            phone_to_call=f"3122{i:06d}",
            source="command",
            dispatch=not dispatcher,
            **(fields or {}),
        ).pk
        for i in range(attempts)
    ]
    if dispatcher:
        env = {**env, "CLICKTOAGENT_DISPATCH_QUEUE": "redis"}
        command = ["clicktoagent_dispatcher"]
    else:
        command = ["rqworker", "--with-scheduler", "default"]
    procs = [
        subprocess.Popen(
            [PYTHON, "manage.py", *command],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        if dispatcher:
            # Every dispatcher is up once each waits in a blocking pop.
            wait(lambda: blocked_pops(queue) >= count, 120, "dispatchers")
            started = time.monotonic()
            queue.lpush(KEY.format(queue="default", part="ready"), *ids)
        else:
            pids = {p.pid for p in procs}
            wait(lambda: pids <= {w.pid for w in Worker.all(connection=queue)}, 120, "workers")
            started = time.monotonic()
            resume(queue)
        wait(
            lambda: not CallAttempt.objects.filter(status__in=["pending", "dispatching"]).exists(),
            600,
            "the attempts",
        )
        elapsed = time.monotonic() - started
    finally:
        for proc in procs:
            stop(proc)
    rows = CallAttempt.objects.values_list("status", "finished_at")
    finished = [f.timestamp() for s, f in rows if f is not None]
    placed = sum(s == "placed" for s, _ in rows)
    return {
        "workers": count,
        "attempts": attempts,
        "placed": placed,
        "seconds": elapsed,
        "per_second": attempts / elapsed,
        "steady_per_second": steady_rate(finished),
    }


def blocked_pops(client: Any) -> int:
    """How many clients of this Redis wait in BRPOP."""
    return sum(c.get("cmd") == "brpop" for c in client.client_list())


def limit_worker(database_url: str, base_url: str, attempts: int) -> dict[str, Any]:
    import psycopg
    import redis

    from bench.limit.schema import create_postgres, pending_attempts

    create_postgres(database_url, TOKEN)
    queue = redis.Redis.from_url(redis_url(REDIS_LIMIT_DB))
    queue.flushdb()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE limit_attempt")
        ids = pending_attempts(conn, attempts)
        proc = subprocess.Popen(
            [PYTHON, "bench/limit/worker.py", database_url, redis_url(REDIS_LIMIT_DB), base_url],
            cwd=ROOT,
            env=app_env(database_url),
        )
        try:
            time.sleep(1.0)  # its imports and connections
            started = time.monotonic()
            queue.lpush("limit:attempts", *ids)

            def done() -> bool:
                row = conn.execute(
                    "SELECT count(*) FROM limit_attempt WHERE status IN ('pending', 'dispatching')"
                ).fetchone()
                return row is not None and row[0] == 0

            wait(done, 600, "the limit worker")
            elapsed = time.monotonic() - started
        finally:
            stop(proc)
        rows = conn.execute("SELECT status, finished_at FROM limit_attempt").fetchall()
    finished = [f.timestamp() for _, f in rows]
    return {
        "workers": 1,
        "attempts": attempts,
        "placed": sum(s == "placed" for s, _ in rows),
        "seconds": elapsed,
        "per_second": attempts / elapsed,
        "steady_per_second": steady_rate(finished),
    }


def setup(base_url: str) -> tuple[str, dict[str, str]]:
    database_url = pg_database(DB)
    env = app_env(
        database_url,
        TASKS_BACKEND="rq",
        REDIS_URL=redis_url(REDIS_APP_DB),
        DIALOGTECH_BASE_URL=base_url,
    )
    manage(env, "migrate", "--verbosity", "0")
    os.environ.update(env)
    import django

    django.setup()
    from clicktoagent.models import Agent, Queue

    queue, _ = Queue.objects.get_or_create(queue_id="12345", defaults={"name": "Sales"})
    agent, _ = Agent.objects.get_or_create(agent_id="98765", defaults={"name": "Dana"})
    agent.queues.add(queue)
    return database_url, env


def row(name: str, r: dict[str, Any]) -> str:
    return (
        f"| {name} | {r['workers']} | {r['attempts']} | {r['placed']} | {r['seconds']:.2f} | "
        f"{r['per_second']:.1f} | {r['steady_per_second']:.1f} |"
    )


HEAD = [
    "| run | workers | attempts | placed | seconds | attempts/s (whole run) "
    "| attempts/s (p10-p90) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
]


def throughput(attempts: int) -> None:
    header = machine()
    with emulator() as base_url:
        database_url, env = setup(base_url)
        app = app_workers(env, 1, attempts, dispatcher=True)
        rq = app_workers(env, 1, attempts)
        limit = limit_worker(database_url, base_url, attempts)
    log(part="workers", app=app, rq=rq, limit=limit)
    ratio = app["steady_per_second"] / limit["steady_per_second"]
    rq_ratio = rq["steady_per_second"] / limit["steady_per_second"]
    write_summary(
        "workers",
        [
            (
                "3. One worker's dispatch throughput",
                f"dispatcher {app['steady_per_second']:.1f}/s, limit "
                f"{limit['steady_per_second']:.1f}/s: **{ratio:.2f}** (the RQ worker: "
                f"{rq['steady_per_second']:.1f}/s, {rq_ratio:.2f})",
                "≥ 0.5",
                verdict(ratio, 0.5),
            )
        ],
    )
    write_section(
        "workers",
        "\n".join(
            [
                "## 3. One worker's dispatch throughput (bench/workers.py)",
                "",
                f"Machine: {header}.",
                "",
                "One dispatcher (`manage.py clicktoagent_dispatcher`: attempt ids on a Redis "
                "list, a plain loop, persistent database connection with health checks) and "
                "one RQ worker (`manage.py rqworker`, clicktoagent.dispatch.workers.Worker: "
                "rq's SimpleWorker running django-tasks-rq jobs, no fork per job) against the "
                "limit worker (bench/limit/worker.py: Redis BRPOP, claim UPDATE, pooled GET, "
                "lxml parse, UPDATE), all on PostgreSQL, same emulator (no latency).",
                "",
                *HEAD,
                row("app: dispatcher", app),
                row("app: RQ worker", rq),
                row("limit", limit),
                "",
                f"**Ratio dispatcher / limit (p10-p90 rates): {ratio:.2f}** — target 0.5: "
                f"{verdict(ratio, 0.5)}. The RQ worker: {rq_ratio:.2f}.",
            ]
        ),
    )


def scaling(latency: float, per_worker: int) -> None:
    header = machine()
    results = []
    with emulator(latency=latency) as base_url:
        _, env = setup(base_url)
        for count in (1, 4, 8):
            result = app_workers(env, count, per_worker * count, dispatcher=True)
            log(part="scaling", latency=latency, **result)
            results.append(result)
    one = results[0]["steady_per_second"]
    lines = [row(f"{r['workers']} worker(s)", r) for r in results]
    four = results[1]["steady_per_second"] / one
    eight = results[2]["steady_per_second"] / one
    rates = ", ".join(f"{r['workers']}: {r['steady_per_second']:.1f}/s" for r in results)
    write_summary(
        "scaling",
        [
            (
                f"4. Scaling, emulator at {latency * 1000:.0f} ms: 4 workers / 1",
                f"{rates}: **{four:.2f}**",
                "≥ 3",
                verdict(four, 3),
            ),
            (
                f"4. Scaling, emulator at {latency * 1000:.0f} ms: 8 workers / 1",
                f"**{eight:.2f}**",
                "≥ 6",
                verdict(eight, 6),
            ),
        ],
    )
    write_section(
        "scaling",
        "\n".join(
            [
                "## 4. Scaling with a slow DialogTech (bench/workers.py --scaling)",
                "",
                f"Machine: {header}.",
                "",
                f"Dispatchers (`manage.py clicktoagent_dispatcher`, what the README has "
                f"people run for calls); the emulator answers every request after "
                f"{latency * 1000:.0f} ms (`--latency`); {per_worker} attempts per worker; "
                "PostgreSQL, Redis.",
                "",
                *HEAD,
                *lines,
                "",
                f"**4 workers: {four:.2f} x one** — target 3: {verdict(four, 3)}. "
                f"**8 workers: {eight:.2f} x one** — target 6: {verdict(eight, 6)}.",
            ]
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=600)
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--per-worker", type=int, default=40)
    args = parser.parse_args()
    if args.scaling:
        scaling(args.latency, args.per_worker)
    else:
        throughput(args.attempts)


if __name__ == "__main__":
    main()
