"""API create+dispatch: the app's ``POST /clicktoagent/api/call-attempts/`` against the limit.

    python bench/api.py [--requests 600] [--clients 4]

Both behind gunicorn (2 sync workers), both on SQLite in WAL mode on a RAM disk
(``BENCH_RAM_DIR``, default /dev/shm), both against the same emulator process. The app
runs with the immediate task backend (the call is placed inside the request) and the
safe-calling rules off; the limit project (bench/limit/views.py) does the essential work
only; the floor project (bench/limit/floor.py) is the demo project's stack (middleware,
DRF, token authentication, the place_call permission) around the limit's work, what any
DRF endpoint of this project doing that work costs at least. Each is warmed up with 40
requests, then timed over ``--requests`` requests from ``--clients`` concurrent clients.
Target: app ≥ 0.7 x limit.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ACCESS_KEY,
    RAM_DIR,
    SECRET_ACCESS_KEY,
    TOKEN,
    LoadResult,
    api_bodies,
    app_env,
    emulator,
    gunicorn,
    load,
    machine,
    setup_app_database,
    sqlite_wal,
    verdict,
    write_section,
    write_summary,
)
from bench.limit.schema import create_sqlite

TARGET = 0.7
WARMUP = 40


def run(wsgi: str, env: dict[str, str], requests: int, clients: int) -> LoadResult:
    with gunicorn(wsgi, env, workers=2) as (base, _):
        url = base + "/clicktoagent/api/call-attempts/"
        warm = load(url, api_bodies(WARMUP, offset=900_000), clients=clients)
        if set(warm.statuses) != {201}:
            raise SystemExit(f"{wsgi}: warm-up answers {warm.statuses}")
        return load(url, api_bodies(requests), clients=clients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    header = machine()
    app_db = RAM_DIR / "cta_bench_api_app.sqlite3"
    limit_db = RAM_DIR / "cta_bench_api_limit.sqlite3"
    for path in (app_db, limit_db):
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{path}{suffix}").unlink()
    results: dict[str, LoadResult] = {}
    try:
        with emulator() as base_url:
            app = app_env(
                f"sqlite:///{app_db}", TASKS_BACKEND="immediate", DIALOGTECH_BASE_URL=base_url
            )
            app.pop("REDIS_URL", None)
            setup_app_database(app)
            sqlite_wal(app_db)
            create_sqlite(str(limit_db), TOKEN)
            # The floor project uses the app's database (its users and tokens) and writes
            # the limit's rows.
            create_sqlite(str(app_db), TOKEN)
            floor = {**app, "DJANGO_SETTINGS_MODULE": "bench.limit.floor_settings"}
            limit = {
                **app,
                "DJANGO_SETTINGS_MODULE": "bench.limit.settings",
                "DATABASE_URL": f"sqlite:///{limit_db}",
                "DIALOGTECH_ACCESS_KEY": ACCESS_KEY,
                "DIALOGTECH_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            }
            results["app"] = run("config.wsgi:application", app, args.requests, args.clients)
            results["floor"] = run("config.wsgi:application", floor, args.requests, args.clients)
            results["limit"] = run(
                "bench.limit.wsgi:application", limit, args.requests, args.clients
            )
    finally:
        for path in (app_db, limit_db):
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{path}{suffix}").unlink()

    ratio = results["app"].rate / results["limit"].rate
    for name, result in results.items():
        result.log("api", side=name)
    rows = [result.row(name) for name, result in results.items()]
    app_rate, limit_rate = results["app"].rate, results["limit"].rate
    floor_rate = results["floor"].rate
    write_summary(
        "api",
        [
            (
                "1. API create+dispatch, gunicorn 2 workers, SQLite on tmpfs",
                f"app {app_rate:.1f}/s, limit {limit_rate:.1f}/s: **{ratio:.2f}**; "
                f"floor (the stack around the limit's work) {floor_rate:.1f}/s, "
                f"{floor_rate / limit_rate:.2f} x limit; app {app_rate / floor_rate:.2f} x floor",
                f"≥ {TARGET}",
                verdict(ratio, TARGET),
            )
        ],
    )
    write_section(
        "api",
        "\n".join(
            [
                "## 1. API create+dispatch (bench/api.py)",
                "",
                f"Machine: {header}.",
                "",
                "`POST /clicktoagent/api/call-attempts/`, gunicorn 2 sync workers, SQLite (WAL) "
                f"on {RAM_DIR}, immediate task backend, {args.clients} concurrent clients, one "
                "emulator process; the limit is bench/limit/views.py (token SELECT, INSERT, "
                "pooled GET, lxml parse, UPDATE); the floor is bench/limit/floor.py (the demo "
                "project's middleware, a DRF view with its token authentication and the "
                "place_call permission, around the limit's work). After a warm-up of "
                f"{WARMUP} requests each.",
                "",
                "| side | requests | answers | seconds | requests/s | latency p50 / p95 ms |",
                "| --- | ---: | --- | ---: | ---: | ---: |",
                *rows,
                "",
                f"**Ratio app / limit: {ratio:.2f}** — target 0.7: {verdict(ratio, TARGET)}. "
                f"Floor / limit: {floor_rate / limit_rate:.2f}; app / floor: "
                f"{app_rate / floor_rate:.2f}.",
            ]
        ),
    )


if __name__ == "__main__":
    main()
