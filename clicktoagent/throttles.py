"""Throttle counters shared by every process of a deployment.

A fixed window per key that starts with the key's first hit and lasts the rate's
period: ``throttle_hit`` counts one hit and says whether it is within the limit,
``throttle_peek`` only reads. Each count is one atomic operation on a store that
every web process reaches, so N processes together admit exactly the limit:

- the cache named by ``CLICKTOAGENT["CACHE_ALIAS"]`` when it is Redis or Memcached,
  whose ``incr`` and ``add`` are atomic on the server;
- otherwise the app's ``ThrottleCounter`` table, with one
  ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (SQLite 3.35+, PostgreSQL).
  Django's own database, file and local-memory caches are not used: their ``incr``
  reads and writes in two steps, or lives in one process.

When the cache fails, counting falls back to the table (and says so in the log).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass

from django.core.cache import BaseCache, caches
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router

from .conf import app_settings
from .models import ThrottleCounter

logger = logging.getLogger("clicktoagent")

PREFIX = "clicktoagent:throttle:"
MAX_KEY_LENGTH = 200
PURGE_EVERY = 60.0
PERIODS = {"s": (1, "second"), "m": (60, "minute"), "h": (3600, "hour"), "d": (86400, "day")}
RATE_PATTERN = re.compile(r"\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*")
# Cache backends whose incr/add are atomic on a server every process shares.
ATOMIC_SHARED_CACHES = (
    "django.core.cache.backends.redis.RedisCache",
    "django.core.cache.backends.memcached.PyMemcacheCache",
    "django.core.cache.backends.memcached.PyLibMCCache",
    "django_redis.cache.RedisCache",
)


@dataclass(frozen=True)
class Rate:
    """At most ``limit`` hits per ``period`` seconds."""

    limit: int
    period: int
    text: str
    unit: str = ""  # "second", "minute", "hour" or "day" when read from text

    def __str__(self) -> str:
        return self.text

    def per(self, what: str) -> str:
        """e.g. ``"60 calls per minute"``."""
        unit = self.unit or f"{self.period} seconds"
        return f"{self.limit} {what} per {unit}"


@dataclass(frozen=True)
class Decision:
    """The outcome of one hit (or peek): the count in the window and when it ends."""

    allowed: bool
    hits: int
    limit: int
    retry_after: float  # seconds until the window ends and the count starts again


def parse_rate(value: object, *, setting: str) -> Rate | None:
    """``"60/minute"`` (also ``"10/second"``, ``"100/hour"``, ``"1000/day"``, or
    ``s``, ``m``, ``h``, ``d``) as a :class:`Rate`; ``None`` or ``"none"`` turn the
    throttle off."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "")):
        return None
    if not isinstance(value, str) or (match := RATE_PATTERN.fullmatch(value)) is None:
        raise ImproperlyConfigured(
            f"CLICKTOAGENT[{setting!r}] must look like '60/minute' (a number, '/', then "
            f"second, minute, hour or day), or None to turn it off; got {value!r}."
        )
    limit = int(match.group(1))
    if limit < 1:
        raise ImproperlyConfigured(
            f"CLICKTOAGENT[{setting!r}] must allow at least 1 hit; got {value!r}. Use None "
            "to turn it off."
        )
    period, unit = PERIODS[match.group(2)[0]]
    return Rate(limit=limit, period=period, text=value.strip(), unit=unit)


def throttle_hit(*, key: str, rate: Rate) -> Decision:
    """Count one hit of ``key``; ``allowed`` is False once the window holds more
    than ``rate.limit`` hits. Hits over the limit are counted too."""
    store_key = _store_key(key)
    cache = _shared_cache()
    if cache is not None:
        try:
            hits, expires_at = _cache_hit(cache, store_key, rate)
            return _decision(counted=hits, expires_at=expires_at, rate=rate)
        except Exception as err:
            _cache_failed(err)
    hits, expires_at = _database_hit(store_key, rate)
    return _decision(counted=hits, expires_at=expires_at, rate=rate)


def throttle_peek(*, key: str, rate: Rate) -> Decision:
    """The current count of ``key`` without counting; ``allowed`` is False when the
    window already holds ``rate.limit`` hits or more."""
    store_key = _store_key(key)
    now = time.time()
    cache = _shared_cache()
    if cache is not None:
        try:
            values = cache.get_many([store_key, store_key + ":end"])
            hits = int(values.get(store_key) or 0)
            expires_at = float(values.get(store_key + ":end") or now + rate.period)
            return _decision(counted=hits + 1, expires_at=expires_at, rate=rate, hits=hits)
        except Exception as err:
            _cache_failed(err)
    row = (
        ThrottleCounter.objects.filter(key=store_key, expires_at__gt=now)
        .values_list("hits", "expires_at")
        .first()
    )
    hits, expires_at = row if row is not None else (0, now + rate.period)
    return _decision(counted=hits + 1, expires_at=expires_at, rate=rate, hits=hits)


def throttle_purge_expired() -> int:
    """Delete the table's counters whose window has ended; returns how many."""
    deleted, _ = ThrottleCounter.objects.filter(expires_at__lte=time.time()).delete()
    return deleted


def throttle_store() -> str:
    """``"cache"`` or ``"database"``: where counts are kept now."""
    return "cache" if _shared_cache() is not None else "database"


# --------------------------------------------------------------------------- stores


def _store_key(key: str) -> str:
    # Keys hold user ids and client addresses; a longer one is hashed to fit the column.
    if len(PREFIX) + len(key) <= MAX_KEY_LENGTH and key.isprintable() and " " not in key:
        return PREFIX + key
    return PREFIX + "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _shared_cache() -> BaseCache | None:
    cache = caches[app_settings.CACHE_ALIAS]
    path = f"{type(cache).__module__}.{type(cache).__qualname__}"
    return cache if path in ATOMIC_SHARED_CACHES else None


def _cache_failed(err: Exception) -> None:
    logger.warning(
        "the cache %r is unreachable (%s); throttles count in the database instead",
        app_settings.CACHE_ALIAS,
        type(err).__name__,
    )


def _cache_hit(cache: BaseCache, store_key: str, rate: Rate) -> tuple[int, float]:
    end_key = store_key + ":end"
    for _ in range(3):
        now = time.time()
        opened = cache.add(store_key, 0, timeout=rate.period)
        if opened:
            # This hit opened the window; the end time only serves Retry-After.
            cache.set(end_key, now + rate.period, timeout=rate.period)
        try:
            hits = int(cache.incr(store_key))
        except ValueError:
            continue  # The window expired between add and incr: open a new one.
        if hits == 1 and not opened:
            # Redis INCR recreates a key that expired a moment before, without a TTL.
            cache.touch(store_key, timeout=rate.period)
        expires_at = cache.get(end_key)
        return hits, float(expires_at) if expires_at is not None else now + rate.period
    raise RuntimeError("the throttle counter kept expiring while being counted")


_last_purge = 0.0


def _database_hit(store_key: str, rate: Rate) -> tuple[int, float]:
    global _last_purge
    now = time.time()
    connection = connections[router.db_for_write(ThrottleCounter)]
    if connection.vendor not in ("sqlite", "postgresql"):
        raise ImproperlyConfigured(
            "Throttle counters need SQLite or PostgreSQL (INSERT ... ON CONFLICT ... "
            f"RETURNING), or a Redis cache as CLICKTOAGENT['CACHE_ALIAS']; the database "
            f"is {connection.vendor}."
        )
    quote = connection.ops.quote_name
    table = quote(ThrottleCounter._meta.db_table)
    key, hits, expires = quote("key"), quote("hits"), quote("expires_at")
    # One statement: a new key starts at 1, an expired window starts again at 1,
    # a live one counts on. Every SET expression reads the row as it was.
    sql = (
        f"INSERT INTO {table} ({key}, {hits}, {expires}) VALUES (%s, 1, %s) "  # noqa: S608
        f"ON CONFLICT ({key}) DO UPDATE SET "
        f"{hits} = CASE WHEN {table}.{expires} <= %s THEN 1 ELSE {table}.{hits} + 1 END, "
        f"{expires} = CASE WHEN {table}.{expires} <= %s THEN excluded.{expires} "
        f"ELSE {table}.{expires} END "
        f"RETURNING {hits}, {expires}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [store_key, now + rate.period, now, now])
        row = cursor.fetchone()
    if now - _last_purge > PURGE_EVERY:
        _last_purge = now
        throttle_purge_expired()
    assert row is not None
    return int(row[0]), float(row[1])


def _decision(*, counted: int, expires_at: float, rate: Rate, hits: int | None = None) -> Decision:
    """``counted``: the window's count with this hit (a peek passes one more than it holds)."""
    return Decision(
        allowed=counted <= rate.limit,
        hits=counted if hits is None else hits,
        limit=rate.limit,
        retry_after=max(0.0, expires_at - time.time()),
    )
