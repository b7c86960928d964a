"""Benchmark: one process placing calls through the services against the emulator.

Measures what a single web process with the immediate task backend can do: create +
dispatch + record per second, the latency of each call, and the response parser on its
own. Writes a Markdown table to stdout; `make bench` stores it in bench/README.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(db_path: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    calls = int(os.environ.get("BENCH_CALLS", "300"))
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(str(Path(tmp) / "bench.sqlite3"))
        import json

        from django.conf import settings
        from django.test.utils import override_settings

        from clicktoagent.dialogtech.responses import parse_click_to_agent
        from clicktoagent.dialogtech.sandbox import SandboxServer
        from clicktoagent.models import Agent, CallAttempt, Queue
        from clicktoagent.services import call_attempt_create

        account = json.loads((ROOT / "fixtures" / "sandbox_account.json").read_text())
        queue = Queue.objects.create(queue_id="12345", name="Sales")
        agent = Agent.objects.create(agent_id="98765", name="Dana")
        agent.queues.add(queue)

        with (
            SandboxServer(account).start() as server,
            override_settings(
                CLICKTOAGENT={
                    **settings.CLICKTOAGENT,
                    "BASE_URL": server.url,
                    "ACCESS_KEY": account["access_key"],
                    "SECRET_ACCESS_KEY": account["secret_access_key"],
                }
            ),
        ):
            latencies: list[float] = []
            tracemalloc.start()
            started = time.perf_counter()
            for i in range(calls):
                t0 = time.perf_counter()
                call_attempt_create(
                    queue_id="12345",
                    agent_id="98765",
                    # 0100-0159: valid fictional numbers clear of the emulator's fault numbers.
                    phone_to_call=f"312555{100 + i % 60:04d}",
                    source="command",
                )
                latencies.append(time.perf_counter() - t0)
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            placed = CallAttempt.objects.filter(status="placed").count()

        body = (
            b"<response><result>success</result><result_description>Request Processed"
            b"</result_description><sid>170101aabbccddee</sid></response>"
        )
        parses = 20000
        t0 = time.perf_counter()
        for _ in range(parses):
            parse_click_to_agent(body, max_bytes=65536)
        parse_us = (time.perf_counter() - t0) / parses * 1e6

    ms = [value * 1000 for value in latencies]
    print(f"| in-process calls (SQLite, immediate backend) | {calls} calls, {placed} placed |")
    print("|---|---|")
    print(f"| throughput | {calls / elapsed:.0f} calls/s |")
    print(
        f"| latency p50 / p95 / max | {statistics.median(ms):.1f} / "
        f"{percentile(ms, 0.95):.1f} / {max(ms):.1f} ms |"
    )
    print(f"| peak traced memory during the run | {peak / 1024:.0f} KiB |")
    print(f"| response parse | {parse_us:.1f} µs per answer |")


if __name__ == "__main__":
    main()
