"""Webhook ingest: signed Standard Webhooks deliveries to ``generic/`` against the limit.

    python bench/webhooks.py [--requests 600] [--clients 4]

The app (RQ task backend: verify the signature, store the event, create the attempt,
queue its dispatch on Redis; no worker runs), the app again with the dispatch queue
(``CLICKTOAGENT_DISPATCH_QUEUE=redis``: the dispatch is one LPUSH for a dispatcher, not
an RQ job), the limit view (bench/limit/views.py: one INSERT, one Redis LPUSH) and the
floor view (bench/limit/floor.py: the demo project's middleware and the app's signature
check around the limit's INSERT and LPUSH), each behind gunicorn (2 sync workers) on one
PostgreSQL database. The deliveries are signed before the clock starts. Target: app ≥ 0.5 x limit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    REDIS_APP_DB,
    REDIS_LIMIT_DB,
    TOKEN,
    LoadResult,
    app_env,
    gunicorn,
    load,
    machine,
    manage,
    pg_database,
    redis_url,
    verdict,
    webhook_bodies,
    write_section,
    write_summary,
)
from bench.limit.schema import create_postgres

DB = "cta_bench_webhooks"
WARMUP = 40
PATH = "/clicktoagent/webhooks/generic/"


def run(wsgi: str, env: dict[str, str], requests: int, clients: int) -> LoadResult:
    with gunicorn(wsgi, env, workers=2) as (base, _):
        bodies = webhook_bodies(WARMUP + requests)
        warm = load(base + PATH, bodies[:WARMUP], clients=clients)
        if set(warm.statuses) != {200}:
            raise SystemExit(f"{wsgi}: warm-up answers {warm.statuses}")
        return load(base + PATH, bodies[WARMUP:], clients=clients)


def main() -> None:
    import redis

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    header = machine()
    database_url = pg_database(DB)
    app = app_env(
        database_url,
        TASKS_BACKEND="rq",
        REDIS_URL=redis_url(REDIS_APP_DB),
        # Nothing is dialled here: no worker runs.
        DIALOGTECH_BASE_URL="http://127.0.0.1:9/ibp_api.php",
    )
    manage(app, "migrate", "--verbosity", "0")
    manage(
        app,
        "shell",
        "-c",
        "from clicktoagent.models import Agent, Queue\n"
        "q = Queue.objects.create(queue_id='12345', name='Sales')\n"
        "Agent.objects.create(agent_id='98765', name='Dana').queues.add(q)\n",
    )
    create_postgres(database_url, TOKEN)
    limit = {
        **app,
        "DJANGO_SETTINGS_MODULE": "bench.limit.settings",
        "REDIS_URL": redis_url(REDIS_LIMIT_DB),
    }
    for db in (REDIS_APP_DB, REDIS_LIMIT_DB):
        redis.Redis.from_url(redis_url(db)).flushdb()
    queue = {**app, "CLICKTOAGENT_DISPATCH_QUEUE": "redis"}
    floor = {**limit, "DJANGO_SETTINGS_MODULE": "bench.limit.floor_settings"}
    results = {
        "app": run("config.wsgi:application", app, args.requests, args.clients),
        "app, dispatch queue": run("config.wsgi:application", queue, args.requests, args.clients),
        "floor": run("config.wsgi:application", floor, args.requests, args.clients),
        "limit": run("bench.limit.wsgi:application", limit, args.requests, args.clients),
    }
    app_redis = redis.Redis.from_url(redis_url(REDIS_APP_DB))
    queued = app_redis.llen("rq:queue:default")
    pushed = app_redis.llen("clicktoagent:dispatch:default:ready")
    for db in (REDIS_APP_DB, REDIS_LIMIT_DB):
        redis.Redis.from_url(redis_url(db)).flushdb()

    ratio = results["app"].rate / results["limit"].rate
    queue_rate = results["app, dispatch queue"].rate
    queue_ratio = queue_rate / results["limit"].rate
    for name, result in results.items():
        result.log("webhooks", side=name)
    rows = [result.row(name) for name, result in results.items()]
    app_rate, limit_rate = results["app"].rate, results["limit"].rate
    floor_rate = results["floor"].rate
    floor_note = (
        f"floor (the stack and signature check around the limit's work) {floor_rate:.1f}/s, "
        f"{floor_rate / limit_rate:.2f} x limit"
    )
    write_summary(
        "webhooks",
        [
            (
                "5. Webhook ingest (generic, signed, RQ backend)",
                f"app {app_rate:.1f}/s, limit {limit_rate:.1f}/s: **{ratio:.2f}**; "
                f"{floor_note}; app {app_rate / floor_rate:.2f} x floor",
                "≥ 0.5",
                verdict(ratio, 0.5),
            ),
            (
                "5. Webhook ingest, dispatch queue (CLICKTOAGENT_DISPATCH_QUEUE)",
                f"app {queue_rate:.1f}/s, limit {limit_rate:.1f}/s: **{queue_ratio:.2f}**",
                "≥ 0.5",
                verdict(queue_ratio, 0.5),
            ),
        ],
    )
    write_section(
        "webhooks",
        "\n".join(
            [
                "## 5. Webhook ingest (bench/webhooks.py)",
                "",
                f"Machine: {header}.",
                "",
                "Signed Standard Webhooks deliveries to `POST /clicktoagent/webhooks/generic/` "
                f"(RQ backend, no worker running: {queued} dispatch jobs were left queued; "
                f"with the dispatch queue, {pushed} ids), "
                "gunicorn 2 sync workers, PostgreSQL, "
                f"{args.clients} concurrent clients; the limit view does one INSERT and one "
                "Redis LPUSH; the floor view (bench/limit/floor.py) is the demo project's "
                "middleware and the app's Standard Webhooks verification around the limit's "
                f"INSERT and LPUSH. After a warm-up of {WARMUP} deliveries each.",
                "",
                "| side | deliveries | answers | seconds | deliveries/s | latency p50 / p95 ms |",
                "| --- | ---: | --- | ---: | ---: | ---: |",
                *rows,
                "",
                f"**Ratio app / limit: {ratio:.2f}** — target 0.5: {verdict(ratio, 0.5)}; "
                f"with the dispatch queue **{queue_ratio:.2f}**. Floor / limit: "
                f"{floor_rate / limit_rate:.2f}; app / floor: {app_rate / floor_rate:.2f}.",
            ]
        ),
    )


if __name__ == "__main__":
    main()
