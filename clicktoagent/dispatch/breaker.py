"""The circuit breaker shared by every worker: after consecutive requests that never
reached DialogTech, dispatch pauses for a cool-down, then one probe request decides.

Its state lives in the cache of ``hold.py`` and fails open (see there).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..conf import app_settings, dialogtech_total_timeout
from .hold import PREFIX, Hold, cache_failed, jitter, shared_cache

logger = logging.getLogger("clicktoagent")

FAILURES_KEY = PREFIX + "circuit:failures"
OPEN_UNTIL_KEY = PREFIX + "circuit:open_until"
PROBE_KEY = PREFIX + "circuit:probe"

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
UNAVAILABLE = "unavailable"


class _Seen(threading.local):
    # Whether this thread's last circuit_hold found nothing to reset.
    clean = False


_seen = _Seen()


def _probe_seconds() -> float:
    """How long one probe request may take before another worker may probe."""
    return dialogtech_total_timeout() + 1.0


def circuit_state() -> str:
    """``closed``, ``open``, ``half_open`` (cool-down over, a probe may go), or
    ``unavailable`` when the cache cannot be read."""
    if int(app_settings.CIRCUIT_BREAKER_THRESHOLD) <= 0:
        return CLOSED
    try:
        open_until = shared_cache().get(OPEN_UNTIL_KEY)
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
            cache = shared_cache()
            info["open_until"] = cache.get(OPEN_UNTIL_KEY)
            info["consecutive_failures"] = cache.get(FAILURES_KEY, 0)
        except Exception:
            info["state"] = UNAVAILABLE
    return info


def circuit_closed() -> bool:
    """Whether the breaker is closed, asked without side effects (a closed breaker lets
    every request go: :func:`circuit_hold` would answer None and change nothing). True
    when the breaker is off; False when the cache cannot be read (ask
    :func:`circuit_hold`)."""
    _seen.clean = False
    if int(app_settings.CIRCUIT_BREAKER_THRESHOLD) <= 0:
        return True
    try:
        values = shared_cache().get_many([OPEN_UNTIL_KEY, FAILURES_KEY])
    except Exception:
        return False
    if OPEN_UNTIL_KEY in values:
        return False
    _seen.clean = not values.get(FAILURES_KEY)
    return True


def circuit_hold() -> Hold | None:
    """None when a request may go now; otherwise a :class:`Hold`.

    When the cool-down is over exactly one worker wins the probe (an atomic
    ``cache.add``); the others keep waiting until the probe has answered.
    """
    _seen.clean = False
    if int(app_settings.CIRCUIT_BREAKER_THRESHOLD) <= 0:
        return None
    try:
        cache = shared_cache()
        values = cache.get_many([OPEN_UNTIL_KEY, FAILURES_KEY])
        open_until = values.get(OPEN_UNTIL_KEY)
        if open_until is None:
            # Nothing to reset after this request if it reaches DialogTech.
            _seen.clean = not values.get(FAILURES_KEY)
            return None
        now = time.time()
        if now < float(open_until):
            spread = min(5.0, float(app_settings.CIRCUIT_BREAKER_COOLDOWN) / 2)
            return Hold("circuit breaker open", float(open_until) + jitter(spread))
        if cache.add(PROBE_KEY, now, timeout=_probe_seconds()):
            logger.info("circuit breaker half-open: sending one probe request")
            return None
    except Exception as err:
        cache_failed("the circuit breaker", err)
        return None
    return Hold("circuit breaker half-open, probe in flight", now + 1.0 + jitter(1.0))


def circuit_record_not_sent() -> None:
    """A request certainly never reached DialogTech: count it, open after the threshold."""
    threshold = int(app_settings.CIRCUIT_BREAKER_THRESHOLD)
    if threshold <= 0:
        return
    try:
        cache = shared_cache()
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
        cache_failed("the circuit breaker", err)


def circuit_record_reached() -> None:
    """DialogTech answered (or at least received the request): close the breaker.

    Skipped (no cache round trip) when the :func:`circuit_hold` that let this request go,
    in this thread, found the breaker closed with no failure counted: the usual case.
    A failure counted by another worker in the meantime then stays counted, one more of
    the approximations of counting without locks.
    """
    clean, _seen.clean = _seen.clean, False
    if int(app_settings.CIRCUIT_BREAKER_THRESHOLD) <= 0 or clean:
        return
    try:
        cache = shared_cache()
        values = cache.get_many([FAILURES_KEY, OPEN_UNTIL_KEY])
        if values:
            cache.delete_many([FAILURES_KEY, OPEN_UNTIL_KEY, PROBE_KEY])
            if OPEN_UNTIL_KEY in values:
                logger.info("circuit breaker closed", extra={"circuit": CLOSED})
    except Exception as err:
        cache_failed("the circuit breaker", err)


def circuit_reset() -> None:
    """Forget the breaker's state (closed)."""
    shared_cache().delete_many([FAILURES_KEY, OPEN_UNTIL_KEY, PROBE_KEY])
