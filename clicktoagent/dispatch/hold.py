"""What the circuit breaker and the request cap share: the cache every worker sees, and
the :class:`Hold` they answer when dispatch must wait.

Their state lives in a Django cache (``CLICKTOAGENT["CACHE_ALIAS"]``). With Django's
Redis cache every worker on every machine sees the same state; with a process-local
cache (``LocMemCache``, Django's default) each process keeps its own.

Both fail open: when the cache cannot be reached, dispatch goes on unprotected (and a
warning is logged) rather than stopping every call.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from django.core.cache import BaseCache, caches

from ..conf import app_settings

logger = logging.getLogger("clicktoagent")

PREFIX = "clicktoagent:"


@dataclass(frozen=True)
class Hold:
    """Dispatch must wait: why, and the earliest time (epoch seconds) to try again."""

    reason: str
    retry_at: float


def shared_cache() -> BaseCache:
    return caches[app_settings.CACHE_ALIAS]


def cache_failed(what: str, err: Exception) -> None:
    logger.warning(
        "the cache %r is unreachable (%s); %s goes on without shared state",
        app_settings.CACHE_ALIAS,
        type(err).__name__,
        what,
    )


def jitter(limit: float) -> float:
    return random.uniform(0.0, max(0.0, limit))  # noqa: S311
