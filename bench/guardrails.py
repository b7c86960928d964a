"""Every guardrail on: API create+dispatch, one worker and webhook ingest, plain and guarded.

    python bench/guardrails.py [--requests 300] [--attempts 300] [--clients 4]

Each path runs twice, one run right after the other, with the same calls: "plain" as in
the other parts (safe-calling rules off, no CRM write-back) and "guardrails on":

* all five safe-calling rules (``CLICKTOAGENT_SAFE_CALLING_RULES``);
* a do-not-call list of 100,000 entries, none of them a number called;
* a daily cap for every number (``CLICKTOAGENT_DAILY_CAP_PER_NUMBER=1000000``: high
  enough to let every call through, so that the count runs on every call);
* the United States' calling window opened all day through
  ``CLICKTOAGENT_SAFE_CALLING_REGIONS_JSON``, as the benchmarks run at any hour: the
  window is still checked on every call;
* recorded calls to Illinois numbers (all-party consent: the consent rule adjusts the
  warning), and CRM write-back of every call to the HubSpot stand-in served by the
  emulator's process (``clicktoagent_sandbox --crm``; ``contact_ref`` hubspot:contact:501).

The API runs as in bench/api.py (SQLite on a RAM disk, immediate backend: the check, the
call and the write-back inside the request), the worker as in bench/workers.py (one
dispatcher, PostgreSQL: the check again right before sending; each write-back is an RQ
job that no worker runs here), webhooks as in bench/webhooks.py (RQ, PostgreSQL, no
worker). Then, on PostgreSQL, the SQL of one guarded create is captured and the
do-not-call lookup and the daily-cap count are explained (``EXPLAIN``). "Hold" is read
here as guarded ≥ 0.9 x plain.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    DO_NOT_CALL_ENTRIES,
    GUARDED_FIELDS,
    RAM_DIR,
    REDIS_APP_DB,
    LoadResult,
    api_bodies,
    app_env,
    emulator_and_hubspot,
    fill_do_not_call,
    guardrails_env,
    gunicorn,
    load,
    log,
    machine,
    manage,
    pg_database,
    redis_url,
    setup_app_database,
    sqlite_wal,
    verdict,
    webhook_bodies,
    write_section,
    write_summary,
)
from bench.workers import HEAD, app_workers, row

HOLD = 0.9
WARMUP = 40
DB = "cta_bench_guardrails"
SIDES = ("plain", "guardrails on")


def api_run(env: dict[str, str], requests: int, clients: int) -> LoadResult:
    with gunicorn("config.wsgi:application", env, workers=2) as (base, _):
        url = base + "/clicktoagent/api/call-attempts/"
        warm = load(url, api_bodies(WARMUP, offset=900_000, extra=GUARDED_FIELDS), clients=clients)
        if set(warm.statuses) != {201}:
            raise SystemExit(f"API warm-up answers {warm.statuses}")
        return load(url, api_bodies(requests, extra=GUARDED_FIELDS), clients=clients)


def webhook_run(env: dict[str, str], requests: int, clients: int) -> LoadResult:
    path = "/clicktoagent/webhooks/generic/"
    with gunicorn("config.wsgi:application", env, workers=2) as (base, _):
        bodies = webhook_bodies(WARMUP + requests, extra=GUARDED_FIELDS)
        warm = load(base + path, bodies[:WARMUP], clients=clients)
        if set(warm.statuses) != {200}:
            raise SystemExit(f"webhook warm-up answers {warm.statuses}")
        return load(base + path, bodies[WARMUP:], clients=clients)


def sqlite_counts(path: Path, table: str) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return dict(conn.execute(f"SELECT status, count(*) FROM {table} GROUP BY status"))  # noqa: S608


def explain_policy() -> tuple[list[str], dict[str, list[str]]]:
    """The SQL of one guarded create (in this process: guarded settings, PostgreSQL), and
    the plans of its do-not-call lookup and daily-cap count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from clicktoagent.services import call_attempt_create

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clicktoagent_donotcallentry")
        cursor.execute("ANALYZE clicktoagent_callattempt")
    with CaptureQueriesContext(connection) as queries:
        call_attempt_create(
            queue_id="12345",
            agent_id="98765",
            phone_to_call="3124000000",
            source="command",
            dispatch=False,
            **GUARDED_FIELDS,
        )
    sql = [q["sql"] for q in queries.captured_queries]
    plans: dict[str, list[str]] = {}
    for name, marker in (
        ("do-not-call lookup", 'FROM "clicktoagent_donotcallentry"'),
        ("daily-cap count", '"phone_to_call" IN ('),
    ):
        found = [q for q in sql if marker in q and q.lstrip().upper().startswith("SELECT")]
        if not found:
            raise SystemExit(f"no {name} among the queries of a create:\n" + "\n".join(sql))
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + found[0])
            plans[name] = [found[0], *(line for (line,) in cursor.fetchall())]
    return sql, plans


def key_line(plan: list[str]) -> str:
    scans = [line.split("  (cost")[0].strip() for line in plan[1:] if "Scan" in line]
    scans = [line.removeprefix("->").strip() for line in scans]
    return scans[-1] if scans else plan[1].strip()


def main() -> None:
    import redis

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--attempts", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    header = machine()

    api_dbs = {side: RAM_DIR / f"cta_bench_guardrails_{i}.sqlite3" for i, side in enumerate(SIDES)}

    def drop_sqlite() -> None:
        for path in api_dbs.values():
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{path}{suffix}").unlink()

    drop_sqlite()
    api: dict[str, LoadResult] = {}
    api_attempts: dict[str, dict[str, int]] = {}
    api_writebacks: dict[str, dict[str, int]] = {}
    workers: dict[str, dict[str, Any]] = {}
    hooks: dict[str, LoadResult] = {}
    try:
        with emulator_and_hubspot() as (base_url, crm):
            guarded = guardrails_env(crm)
            # 1. API create+dispatch.
            for side, path in api_dbs.items():
                # IMMEDIATE transactions, as clicktoagent.policy.locks asks of SQLite: the
                # cap is counted in the transaction that then stores the attempt, and a
                # deferred one could not take the write lock after reading ("database is
                # locked"). Both sides alike.
                env = app_env(
                    f"sqlite:///{path}?transaction_mode=IMMEDIATE",
                    TASKS_BACKEND="immediate",
                    DIALOGTECH_BASE_URL=base_url,
                )
                env.pop("REDIS_URL", None)
                if side != "plain":
                    env.update(guarded)
                setup_app_database(env)
                if side != "plain":
                    fill_do_not_call(env)
                sqlite_wal(path)
                api[side] = api_run(env, args.requests, args.clients)
                api_attempts[side] = sqlite_counts(path, "clicktoagent_callattempt")
                api_writebacks[side] = sqlite_counts(path, "clicktoagent_crmwriteback")
                log(part="guardrails", path="api", side=side, per_second=round(api[side].rate, 1))

            # 3. One worker, and 5. webhook ingest, on one PostgreSQL database.
            database_url = pg_database(DB)
            common = {
                "TASKS_BACKEND": "rq",
                "REDIS_URL": redis_url(REDIS_APP_DB),
                "DIALOGTECH_BASE_URL": base_url,
            }
            envs = {
                "plain": app_env(database_url, **common),
                "guardrails on": app_env(database_url, **common, **guarded),
            }
            manage(envs["plain"], "migrate", "--verbosity", "0")
            fill_do_not_call(envs["plain"])
            # This process creates the attempts the workers send: with the guardrails.
            os.environ.update(envs["guardrails on"])
            import django

            django.setup()
            from django.db.models import Count

            from clicktoagent.models import Agent, CrmWriteback, Queue

            queue, _ = Queue.objects.get_or_create(queue_id="12345", defaults={"name": "Sales"})
            agent, _ = Agent.objects.get_or_create(agent_id="98765", defaults={"name": "Dana"})
            agent.queues.add(queue)
            for side in SIDES:
                workers[side] = app_workers(
                    envs[side], 1, args.attempts, fields=GUARDED_FIELDS, dispatcher=True
                )
                workers[side]["writebacks"] = dict(
                    CrmWriteback.objects.values_list("status").annotate(Count("id")).order_by()
                )
                log(part="guardrails", path="worker", side=side, **workers[side])
            connection_queue = redis.Redis.from_url(redis_url(REDIS_APP_DB))
            connection_queue.flushdb()
            for side in SIDES:
                hooks[side] = webhook_run(envs[side], args.requests, args.clients)
                connection_queue.flushdb()
                rate = round(hooks[side].rate, 1)
                log(part="guardrails", path="webhooks", side=side, per_second=rate)
            _, plans = explain_policy()
    finally:
        drop_sqlite()

    ratios = {
        "api": api["guardrails on"].rate / api["plain"].rate,
        "worker": workers["guardrails on"]["steady_per_second"]
        / workers["plain"]["steady_per_second"],
        "webhooks": hooks["guardrails on"].rate / hooks["plain"].rate,
    }
    keys = {name: key_line(plan) for name, plan in plans.items()}
    indexed = all("Index" in line and "Seq Scan" not in line for line in keys.values())

    def pair(plain: float, guarded_rate: float, ratio: float) -> str:
        return f"plain {plain:.1f}/s, guardrails on {guarded_rate:.1f}/s: **{ratio:.2f}**"

    target = f"≥ {HOLD} x plain"
    write_summary(
        "guardrails",
        [
            (
                "7. Every guardrail on: API create+dispatch",
                pair(api["plain"].rate, api["guardrails on"].rate, ratios["api"]),
                target,
                verdict(ratios["api"], HOLD),
            ),
            (
                "7. Every guardrail on: one worker",
                pair(
                    workers["plain"]["steady_per_second"],
                    workers["guardrails on"]["steady_per_second"],
                    ratios["worker"],
                ),
                target,
                verdict(ratios["worker"], HOLD),
            ),
            (
                "7. Every guardrail on: webhook ingest",
                pair(hooks["plain"].rate, hooks["guardrails on"].rate, ratios["webhooks"]),
                target,
                verdict(ratios["webhooks"], HOLD),
            ),
            (
                f"7. Policy lookups with {DO_NOT_CALL_ENTRIES:,} do-not-call entries (PostgreSQL)",
                "; ".join(f"{name}: `{line}`" for name, line in keys.items()),
                "index scans",
                "**pass**" if indexed else "**fail** (not an index scan)",
            ),
        ],
    )

    def load_row(name: str, result: LoadResult, attempts: str = "") -> str:
        return result.row(name) + attempts

    plan_blocks: list[str] = []
    for name, plan in plans.items():
        plan_blocks += [
            f"{name[0].upper()}{name[1:]}:",
            "",
            "```",
            " ".join(plan[0].split()),
            "",
            *plan[1:],
            "```",
            "",
        ]
    write_section(
        "guardrails",
        "\n".join(
            [
                "## 7. Every guardrail on (bench/guardrails.py)",
                "",
                f"Machine: {header}.",
                "",
                "Each path twice, one run right after the other, with the same calls "
                "(recorded, `contact_ref` hubspot:contact:501, Illinois numbers): **plain** "
                "as in the other parts (rules off, no write-back), and **guardrails on**: "
                "the five safe-calling rules, a do-not-call list of "
                f"{DO_NOT_CALL_ENTRIES:,} entries (none of them called), a daily cap for every "
                "number (1,000,000: counted on every call, never reached), the United States' "
                "calling window opened all day (`CLICKTOAGENT_SAFE_CALLING_REGIONS_JSON`; the "
                "benchmarks run at any hour, the window is still checked on every call; the "
                "consent rule raises the warning of these recorded calls to Illinois), and "
                "CRM write-back to the HubSpot stand-in served by the emulator's process. "
                f"Verdict: guardrails on ≥ {HOLD} x plain (how this benchmark reads "
                "“the figures hold”).",
                "",
                "**API create+dispatch** (as bench/api.py: gunicorn 2 sync workers, SQLite "
                f"on {RAM_DIR}, immediate backend: check, call and write-back inside the "
                f"request; {args.clients} clients, after a warm-up of {WARMUP} requests; "
                "both sides with `transaction_mode=IMMEDIATE`, which the daily cap needs "
                "on SQLite: counted in a deferred transaction, concurrent creates fail "
                "with “database is locked”).",
                "",
                "| side | requests | answers | seconds | requests/s | latency p50 / p95 ms "
                "| attempts by status | write-backs by status |",
                "| --- | ---: | --- | ---: | ---: | ---: | --- | --- |",
                *(
                    load_row(
                        side,
                        api[side],
                        f" {api_attempts[side]} | {api_writebacks[side] or '-'} |",
                    )
                    for side in SIDES
                ),
                "",
                f"**Guardrails on / plain: {ratios['api']:.2f}** — {verdict(ratios['api'], HOLD)}.",
                "",
                "**One worker** (as bench/workers.py: one `manage.py clicktoagent_dispatcher`, "
                "PostgreSQL; with the guardrails the rules are checked again right before "
                "sending, so the attempt is read, checked and then claimed, and each "
                "write-back is an RQ job that no worker runs here; write-backs counted when "
                "the last attempt finished).",
                "",
                HEAD[0] + " write-backs by status |",
                HEAD[1] + " --- |",
                *(
                    row(side, workers[side]) + f" {workers[side]['writebacks'] or '-'} |"
                    for side in SIDES
                ),
                "",
                f"**Guardrails on / plain (p10-p90 rates): {ratios['worker']:.2f}** — "
                f"{verdict(ratios['worker'], HOLD)}.",
                "",
                "**Webhook ingest** (as bench/webhooks.py: signed deliveries to "
                "`webhooks/generic/`, RQ backend, no worker, PostgreSQL; the guarded run's "
                "numbers were called once already by the plain run, so the cap counts "
                f"find an attempt; {args.clients} clients, after a warm-up of {WARMUP}).",
                "",
                "| side | deliveries | answers | seconds | deliveries/s | latency p50 / p95 ms |",
                "| --- | ---: | --- | ---: | ---: | ---: |",
                *(load_row(side, hooks[side]) for side in SIDES),
                "",
                f"**Guardrails on / plain: {ratios['webhooks']:.2f}** — "
                f"{verdict(ratios['webhooks'], HOLD)}.",
                "",
                f"**The policy lookups are index scans** (PostgreSQL, {DO_NOT_CALL_ENTRIES:,} "
                "do-not-call entries and the attempts of the runs above, after ANALYZE): "
                "the queries of one guarded create, captured, then explained.",
                "",
                *plan_blocks,
            ]
        ),
    )


if __name__ == "__main__":
    main()
