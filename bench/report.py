"""Writes bench/README.md from bench/results/ and bench/notes.md (run by bench/run.sh)."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, ROOT

PARTS = [
    "api",
    "workers",
    "scaling",
    "webhooks",
    "memory",
    "guardrails",
    "profile",
    "profile-worker",
    "profile-worker-guardrails",
]


def main() -> None:
    import django

    ran, seconds = sys.argv[1], int(sys.argv[2])
    summary = "".join(
        (RESULTS / f"{part}.summary").read_text()
        for part in PARTS
        if (RESULTS / f"{part}.summary").exists()
    )
    times = ", ".join(
        (RESULTS / f"{part}.time").read_text().strip()
        for part in PARTS
        if (RESULTS / f"{part}.time").exists()
    )
    sections = "\n\n".join(
        (RESULTS / f"{part}.md").read_text().strip()
        for part in PARTS
        if (RESULTS / f"{part}.md").exists()
    )
    now = datetime.now(tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""# Benchmarks

Put together by bench/report.py at the end of `make bench` (bench/run.sh) on {now}; parts
run that time: {ran} ({seconds} s).

Machine: {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()},
Django {django.get_version()}, {platform.system()} {platform.release()}. Each section says
when it ran and the load average then: the machine is shared, so other people's work
shows in the figures; the two sides of a ratio ran one after the other in the same part.
Seconds per part (last run of each): {times}.

These are benchmarks, not tests: nothing fails a build.

## Results against the targets of issue 14

| item | figures | target | verdict |
| --- | --- | --- | --- |
{summary}
{(ROOT / "bench" / "notes.md").read_text().strip()}

{sections}
"""
    (ROOT / "bench" / "README.md").write_text(text)


if __name__ == "__main__":
    main()
