"""Protection of DialogTech shared by every worker: a circuit breaker and a request cap.

Their state lives in a Django cache (``CLICKTOAGENT["CACHE_ALIAS"]``). With Django's
Redis cache every worker on every machine sees the same state; with a process-local
cache (``LocMemCache``, Django's default) each process keeps its own.

Both fail open: when the cache cannot be reached, dispatch goes on unprotected (and a
warning is logged) rather than stopping every call.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import BaseCache, caches

from .conf import app_settings, dialogtech_total_timeout

logger = logging.getLogger("clicktoagent")

PREFIX = "clicktoagent:"
FAILURES_KEY = PREFIX + "circuit:failures"
OPEN_UNTIL_KEY = PREFIX + "circuit:open_until"
PROBE_KEY = PREFIX + "circuit:probe"
RATE_KEY = PREFIX + "rate:{window}"

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Hold:
    """Dispatch must wait: why, and the earliest time (epoch seconds) to try again."""

    reason: str
    retry_at: float


def _cache() -> BaseCache:
    return caches[app_settings.CACHE_ALIAS]


def _cache_failed(what: str, err: Exception) -> None:
    logger.warning(
        "the cache %r is unreachable (%s); %s goes on without shared state",
        app_settings.CACHE_ALIAS,
        type(err).__name__,
        what,
    )


def _jitter(limit: float) -> float:
    return random.uniform(0.0, max(0.0, limit))  # noqa: S311


def _probe_seconds() -> float:
    """How long one probe request may take before another worker may probe."""
    return dialogtech_total_timeout() + 1.0


# --------------------------------------------------------------------------- breaker


def circuit_state() -> str:
    """``closed``, ``open``, ``half_open`` (cool-down over, a probe may go), or
    ``unavailable`` when the cache cannot be read."""
    if int(app_settings.CIRCUIT_BREAKER_THRESHOLD) <= 0:
        return CLOSED
    try:
        open_until = _cache().get(OPEN_UNTIL_KEY)
    except Exception:
        return UNAVAILABLE
    if open_until is None:
        return CLOSED
    return OPEN if time.time() < float(open_until) else HALF_OPEN


def circuit_info() -> dict[str, Any]:
    """The breaker's state for the health check."""
    state = circuit_state()
    info: dict[str, Any] = {"state": state}
    if state in (OPEN, HALF_OPEN):
        try:
            cache = _cache()
            info["open_until"] = cache.get(OPEN_UNTIL_KEY)
            info["consecutive_failures"] = cache.get(FAILURES_KEY, 0)
        except Exception:
            info["state"] = UNAVAILABLE
    return info


def circuit_allows() -> Hold | None:
    """None when a request may go now; otherwise a :class:`Hold`.

    When the cool-down is over exactly one worker wins the probe (an atomic
    ``cache.add``); the others keep waiting until the probe has answered.
    """
    if int(app_settings.CIRCUIT_BREAKER_THRESHOLD) <= 0:
        return None
    try:
        cache = _cache()
        open_until = cache.get(OPEN_UNTIL_KEY)
        if open_until is None:
            return None
        now = time.time()
        if now < float(open_until):
            spread = min(5.0, float(app_settings.CIRCUIT_BREAKER_COOLDOWN) / 2)
            return Hold("circuit breaker open", float(open_until) + _jitter(spread))
        if cache.add(PROBE_KEY, now, timeout=_probe_seconds()):
            logger.info("circuit breaker half-open: sending one probe request")
            return None
    except Exception as err:
        _cache_failed("the circuit breaker", err)
        return None
    return Hold("circuit breaker half-open, probe in flight", now + 1.0 + _jitter(1.0))


def circuit_record_not_sent() -> None:
    """A request certainly never reached DialogTech: count it, open after the threshold."""
    threshold = int(app_settings.CIRCUIT_BREAKER_THRESHOLD)
    if threshold <= 0:
        return
    try:
        cache = _cache()
        cache.add(FAILURES_KEY, 0, timeout=None)
        failures = cache.incr(FAILURES_KEY)
        if failures >= threshold:
            cooldown = float(app_settings.CIRCUIT_BREAKER_COOLDOWN)
            cache.set(OPEN_UNTIL_KEY, time.time() + cooldown, timeout=None)
            cache.delete(PROBE_KEY)
            logger.warning(
                "circuit breaker open for %.1f s after %d consecutive requests that never "
                "reached DialogTech",
                cooldown,
                failures,
                extra={"circuit": OPEN, "consecutive_failures": failures},
            )
    except Exception as err:
        _cache_failed("the circuit breaker", err)


def circuit_record_reached() -> None:
    """DialogTech answered (or at least received the request): close the breaker."""
    if int(app_settings.CIRCUIT_BREAKER_THRESHOLD) <= 0:
        return
    try:
        cache = _cache()
        values = cache.get_many([FAILURES_KEY, OPEN_UNTIL_KEY])
        if values:
            cache.delete_many([FAILURES_KEY, OPEN_UNTIL_KEY, PROBE_KEY])
            if OPEN_UNTIL_KEY in values:
                logger.info("circuit breaker closed", extra={"circuit": CLOSED})
    except Exception as err:
        _cache_failed("the circuit breaker", err)


def circuit_reset() -> None:
    """Forget the breaker's state (closed)."""
    _cache().delete_many([FAILURES_KEY, OPEN_UNTIL_KEY, PROBE_KEY])


# --------------------------------------------------------------------------- request cap


def rate_limit_acquire() -> Hold | None:
    """Take one request slot of the current minute; a :class:`Hold` when none is left.

    A fixed window per calendar minute, counted with one atomic ``INCR`` shared by
    every worker; slots of the next minute are spread over its first seconds.
    """
    cap = int(app_settings.RATE_LIMIT_PER_MINUTE)
    if cap <= 0:
        return None
    now = time.time()
    window = int(now // 60)
    key = RATE_KEY.format(window=window)
    try:
        cache = _cache()
        cache.add(key, 0, timeout=120)
        used = cache.incr(key)
    except Exception as err:
        _cache_failed("the request cap", err)
        return None
    if used <= cap:
        return None
    return Hold(f"request cap of {cap} per minute reached", (window + 1) * 60 + _jitter(10.0))
