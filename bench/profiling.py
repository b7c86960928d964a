"""Where an API create+dispatch spends its time, and which queries it makes.

    python bench/profiling.py [--requests 200]

In one process: Django's test client posts to ``/clicktoagent/api/call-attempts/``
(token auth, immediate backend, safe-calling rules off) on SQLite on the RAM disk,
against the emulator in its own process, under cProfile; then one request's SQL is
captured. Writes the summary section (bench/results/profile.md).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    RAM_DIR,
    TOKEN,
    api_bodies,
    app_env,
    emulator,
    machine,
    setup_app_database,
    webhook_bodies,
    write_section,
)

# Functions whose cumulative time says where a request goes (substring of pstats' key).
AREAS = [
    ("whole request (test client)", "django/test/client.py", "post"),
    ("DRF view dispatch", "rest_framework/views.py", "dispatch"),
    ("token authentication", "rest_framework/authentication.py", "authenticate_credentials"),
    ("permission check (place_call)", "clicktoagent/api/permissions.py", "has_permission"),
    (
        "call_attempt_get_or_create (calls)",
        "clicktoagent/calls/services.py",
        "call_attempt_get_or_create",
    ),
    ("request validation (calls)", "clicktoagent/calls/request.py", "validate"),
    (
        "call_attempt_send (dispatch, inline)",
        "clicktoagent/dispatch/services.py",
        "call_attempt_send",
    ),
    ("DialogTech HTTP request", "clicktoagent/dialogtech/client.py", "click_to_agent"),
    (
        "last-moment claim check (SELECT)",
        "clicktoagent/dispatch/services.py",
        "_still_ours_to_send",
    ),
    ("outcome recording", "clicktoagent/dispatch/outcome.py", "call_attempt_finish"),
    ("response parsing", "clicktoagent/dialogtech/responses.py", "parse_click_to_agent"),
    ("deadline timer thread start", "threading.py", "start"),
    ("API answer (_attempt_response)", "clicktoagent/api/views.py", "_attempt_response"),
    ("SQL execution (all queries)", "django/db/backends/utils.py", "_execute"),
    ("SQL compilation (all queries)", "django/db/models/sql/compiler.py", "as_sql"),
]


def area_rows(stats: pstats.Stats, areas: list[tuple[str, str, str]], count: int) -> list[str]:
    """One table row per area: its time and calls per request (or job)."""
    entries = stats.stats  # type: ignore[attr-defined]
    rows = []
    for label, path, name in areas:
        total = 0.0
        calls = 0
        for (filename, _line, function), (_cc, ncalls, own, cumulative, _) in entries.items():
            if path in filename and (not name or function == name):
                # A module: its functions' own time; a function: its cumulative time.
                total = total + own if not name else max(total, cumulative)
                calls += ncalls
        rows.append(f"| {label} | {total / count * 1000:.2f} | {calls / count:.1f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    header = machine()
    db = RAM_DIR / "cta_bench_profile.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{db}{suffix}").unlink()
    with emulator() as base_url:
        env = app_env(
            f"sqlite:///{db}",
            TASKS_BACKEND="immediate",
            DIALOGTECH_BASE_URL=base_url,
            DJANGO_ALLOWED_HOSTS="testserver",
        )
        env.pop("REDIS_URL", None)
        setup_app_database(env)
        os.environ.update(env)
        import django

        django.setup()
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        client = Client()
        url = "/clicktoagent/api/call-attempts/"
        auth = {"Authorization": f"Token {TOKEN}"}
        bodies = [body for body, _ in api_bodies(args.requests + 21)]
        for body in bodies[:20]:  # warm-up
            warm = client.post(url, body, "application/json", headers=auth)
            assert warm.status_code == 201, (warm.status_code, warm.content[:500])
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for body in bodies[20:-1]:
            client.post(url, body, "application/json", headers=auth)
        profiler.disable()
        per_request = (time.perf_counter() - started) / args.requests * 1000
        with CaptureQueriesContext(connection) as queries:
            assert client.post(url, bodies[-1], "application/json", headers=auth).status_code == 201
        # A webhook delivery's own queries (verify, store, create; the dispatch task is
        # only recorded: the dummy backend runs nothing).
        from django.test.utils import override_settings

        from clicktoagent import taskcompat

        (body, headers), *_ = webhook_bodies(2)
        with (
            override_settings(TASKS={"default": {"BACKEND": taskcompat.DUMMY_BACKEND}}),
            CaptureQueriesContext(connection) as webhook_queries,
        ):
            delivered = client.post(
                "/clicktoagent/webhooks/generic/",
                body,
                "application/json",
                headers={k: v for k, v in headers.items() if k != "Content-Type"},
            )
            assert delivered.status_code == 200, delivered.content[:300]
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{db}{suffix}").unlink()

    rows = area_rows(pstats.Stats(profiler), AREAS, args.requests)
    top = io.StringIO()
    pstats.Stats(profiler, stream=top).sort_stats("tottime").print_stats(15)
    top_lines = [line for line in top.getvalue().splitlines() if line.strip() and "/" in line][:16]
    sql = [
        f"{i}. `{' '.join(q['sql'].split())[:160]}`"
        for i, q in enumerate(queries.captured_queries, 1)
    ]
    write_section(
        "profile",
        "\n".join(
            [
                "## Profile of one API create+dispatch (bench/profiling.py)",
                "",
                f"Machine: {header}. In one process under cProfile (which slows "
                f"Python code down), SQLite on {RAM_DIR}, immediate backend: "
                f"{per_request:.1f} ms per request over {args.requests} requests.",
                "",
                "| where (cumulative, per request) | ms | calls |",
                "| --- | ---: | ---: |",
                *rows,
                "",
                "Most own time (cProfile `tottime`, all requests):",
                "",
                "```",
                *top_lines,
                "```",
                "",
                f"SQL of one API create+dispatch ({len(queries.captured_queries)} queries):",
                "",
                *sql,
                "",
                f"SQL of one signed webhook delivery, ingest only "
                f"({len(webhook_queries.captured_queries)} queries):",
                "",
                *(
                    f"{i}. `{' '.join(q['sql'].split())[:160]}`"
                    for i, q in enumerate(webhook_queries.captured_queries, 1)
                ),
            ]
        ),
    )


if __name__ == "__main__":
    main()
