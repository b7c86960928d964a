"""When to try again: one backoff schedule, and whether the task backend can defer.

Shared by the dispatch of call attempts and the webhook callbacks.
"""

from __future__ import annotations

import random

from ..conf import app_settings
from ..taskcompat import task_backends


def backoff(tries: int, *, first: float, most: float, retry_after: float | None = None) -> float:
    """Seconds to wait before try ``tries + 1``: the other side's ``Retry-After`` when it
    gave one (capped at ``most``), else ``first`` doubled per try, capped, with jitter."""
    if retry_after is not None:
        return min(float(retry_after), most)
    capped = min(first * (2 ** (tries - 1)), most)
    # Jitter spreads retries of many workers over time.
    return float(capped * random.uniform(0.5, 1.0))  # noqa: S311


def backend_can_defer() -> bool:
    """Whether the dispatch task backend runs a task later (RQ) or only now (immediate)."""
    return bool(task_backends[app_settings.TASK_BACKEND].supports_defer)
