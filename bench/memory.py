"""Memory: RSS of one web process and one worker over many attempts.

    python bench/memory.py [--attempts 10000] [--clients 4]

``--attempts`` API creates (``POST /clicktoagent/api/call-attempts/``) go to one gunicorn
worker process (RQ task backend, calls on the Redis dispatch queue, PostgreSQL), while
one dispatcher (``manage.py clicktoagent_dispatcher``) sends them to the emulator as they
come. The resident set size (VmRSS in /proc) of the gunicorn worker and of the
dispatcher is
sampled every ``attempts / 20`` answers and once the worker is done. The baseline is the
sample after the first 10 % (imports, caches and pools warmed up); the target is every
later sample within ±10 % of it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    PYTHON,
    REDIS_APP_DB,
    ROOT,
    api_bodies,
    app_env,
    children,
    emulator,
    gunicorn,
    load,
    log,
    machine,
    pg_database,
    redis_url,
    rss_kib,
    setup_app_database,
    stop,
    write_section,
    write_summary,
)

DB = "cta_bench_memory"


def flat(samples: list[tuple[int, int]]) -> tuple[int, float, float, bool]:
    """Baseline (the sample at 10 %), the lowest and highest later sample relative to it."""
    start = max(1, len(samples) // 10)
    baseline = samples[start][1]
    later = [kib for _, kib in samples[start:]]
    low, high = min(later) / baseline - 1, max(later) / baseline - 1
    return baseline, low, high, low >= -0.10 and high <= 0.10


def main() -> None:
    import psycopg
    import redis

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    header = machine()
    database_url = pg_database(DB)
    redis.Redis.from_url(redis_url(REDIS_APP_DB)).flushdb()
    web: list[tuple[int, int]] = []
    work: list[tuple[int, int]] = []
    every = max(1, args.attempts // 20)
    with emulator() as base_url:
        env = app_env(
            database_url,
            TASKS_BACKEND="rq",
            REDIS_URL=redis_url(REDIS_APP_DB),
            CLICKTOAGENT_DISPATCH_QUEUE="redis",
            DIALOGTECH_BASE_URL=base_url,
        )
        setup_app_database(env)
        worker = subprocess.Popen(
            [PYTHON, "manage.py", "clicktoagent_dispatcher"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        conn = psycopg.connect(database_url, autocommit=True)

        def finished() -> int:
            row = conn.execute(
                "SELECT count(*) FROM clicktoagent_callattempt "
                "WHERE status IN ('placed', 'failed', 'unknown')"
            ).fetchone()
            return int(row[0]) if row else 0

        try:
            with gunicorn("config.wsgi:application", env, workers=1) as (base, master):
                time.sleep(1.0)
                (web_pid,) = children(master.pid)
                lock = threading.Lock()

                def sample(done: int) -> None:
                    if done % every == 0:
                        with lock:
                            web.append((done, rss_kib(web_pid)))

                started = time.monotonic()
                result = load(
                    base + "/clicktoagent/api/call-attempts/",
                    api_bodies(args.attempts),
                    clients=args.clients,
                    on_progress=sample,
                )
                api_seconds = time.monotonic() - started
            # The worker: sampled by attempts finished, until all are.
            next_mark = every
            deadline = time.monotonic() + 1800
            while True:
                done = finished()
                while done >= next_mark:
                    work.append((next_mark, rss_kib(worker.pid)))
                    next_mark += every
                if done >= args.attempts or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            worker_seconds = time.monotonic() - started
        finally:
            stop(worker)
            conn.close()
    log(part="memory", web=web, worker=work, statuses=result.statuses)
    lines = []
    summary = []
    for name, samples in (
        ("web process (gunicorn worker)", web),
        ("dispatcher (clicktoagent_dispatcher)", work),
    ):
        baseline, low, high, ok = flat(samples)
        summary.append(
            (
                f"6. Memory: {name}, {args.attempts} attempts",
                f"{baseline / 1024:.1f} MiB → {samples[-1][1] / 1024:.1f} MiB "
                f"({low * 100:+.1f} % / {high * 100:+.1f} %)",
                "within ±10 %",
                "**pass**" if ok else "**fail**",
            )
        )
        series = ", ".join(f"{kib / 1024:.1f}" for _, kib in samples)
        lines.append(
            f"| {name} | {samples[0][1] / 1024:.1f} | {baseline / 1024:.1f} | "
            f"{samples[-1][1] / 1024:.1f} | {low * 100:+.1f} % / {high * 100:+.1f} % | "
            f"{'**pass**' if ok else '**fail**'} |"
        )
        lines.append(f"| ↳ samples every {every} (MiB) | {series} | | | | |")
    write_summary("memory", summary)
    write_section(
        "memory",
        "\n".join(
            [
                "## 6. Memory over many attempts (bench/memory.py)",
                "",
                f"Machine: {header}.",
                "",
                f"{args.attempts} API creates into one gunicorn worker (RQ backend, calls on the "
                f"Redis dispatch queue, PostgreSQL, "
                f"{args.clients} clients; answers {result.statuses}, {api_seconds:.0f} s), "
                "sent meanwhile by one dispatcher to the emulator (all finished after "
                f"{worker_seconds:.0f} s). RSS from /proc/<pid>/status; baseline: the sample "
                "after the first 10 % of attempts.",
                "",
                "| process | RSS first sample MiB | baseline MiB | last MiB "
                "| later samples vs baseline (min / max) | within ±10 % |",
                "| --- | ---: | ---: | ---: | ---: | --- |",
                *lines,
            ]
        ),
    )


if __name__ == "__main__":
    main()
