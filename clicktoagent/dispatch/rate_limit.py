"""The request cap shared by every worker: at most ``RATE_LIMIT_PER_MINUTE`` requests to
DialogTech per calendar minute. Its count lives in the cache of ``hold.py``."""

from __future__ import annotations

import time

from ..conf import app_settings
from .hold import PREFIX, Hold, cache_failed, jitter, shared_cache

RATE_KEY = PREFIX + "rate:{window}"


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
        cache = shared_cache()
        cache.add(key, 0, timeout=120)
        used = cache.incr(key)
    except Exception as err:
        cache_failed("the request cap", err)
        return None
    if used <= cap:
        return None
    return Hold(f"request cap of {cap} per minute reached", (window + 1) * 60 + jitter(10.0))
