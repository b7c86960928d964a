"""Throttle counters: one count per key shared by every process, in Redis or the database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from clicktoagent.models import ThrottleCounter
from clicktoagent.throttles import (
    Rate,
    parse_rate,
    throttle_hit,
    throttle_peek,
    throttle_purge_expired,
    throttle_store,
)
from tests.conftest import ROOT, redis_or_skip

TEST_REDIS_URL = "redis://127.0.0.1:6379/13"
FIVE_PER_MINUTE = Rate(limit=5, period=60, text="5/minute")


@pytest.mark.parametrize(
    ("text", "limit", "period"),
    [
        ("60/minute", 60, 60),
        ("10/s", 10, 1),
        ("100/hour", 100, 3600),
        ("1000/day", 1000, 86400),
        (" 7 / min ", 7, 60),
    ],
)
def test_rates_are_read_like_drf_rates(text: str, limit: int, period: int) -> None:
    rate = parse_rate(text, setting="API_CREATE_THROTTLE_RATE")
    assert rate is not None and (rate.limit, rate.period) == (limit, period)


@pytest.mark.parametrize("off", [None, "none", "None", ""])
def test_none_turns_a_throttle_off(off: Any) -> None:
    assert parse_rate(off, setting="API_CREATE_THROTTLE_RATE") is None


@pytest.mark.parametrize("bad", ["60", "60/fortnight", "0/minute", "-1/minute", 60, "x/minute"])
def test_a_bad_rate_says_what_is_expected(bad: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="API_CREATE_THROTTLE_RATE"):
        parse_rate(bad, setting="API_CREATE_THROTTLE_RATE")


def test_system_check_reports_a_bad_rate(settings) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "API_CREATE_THROTTLE_RATE": "60/fortnight"}
    errors = [m for m in run_checks() if m.id == "clicktoagent.E010"]
    assert errors and "60/minute" in errors[0].msg
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "API_CREATE_THROTTLE_RATE": None}
    assert not [m for m in run_checks() if m.id == "clicktoagent.E010"]


# ---------------------------------------------------------------------- the database store


@pytest.mark.django_db
def test_database_counter_admits_the_limit_then_refuses_until_the_window_ends() -> None:
    assert throttle_store() == "database"
    decisions = [throttle_hit(key="k", rate=FIVE_PER_MINUTE) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.hits for d in decisions] == [1, 2, 3, 4, 5, 6, 7]
    assert 0 < decisions[-1].retry_after <= 60
    # Another key has its own count.
    assert throttle_hit(key="other", rate=FIVE_PER_MINUTE).hits == 1
    # The window ends: the count starts again from one.
    ThrottleCounter.objects.filter(key__endswith=":k").update(expires_at=time.time() - 1)
    again = throttle_hit(key="k", rate=FIVE_PER_MINUTE)
    assert again.allowed and again.hits == 1 and again.retry_after > 59


@pytest.mark.django_db
def test_peek_reads_without_counting() -> None:
    assert throttle_peek(key="k", rate=FIVE_PER_MINUTE).allowed
    for _ in range(4):
        throttle_hit(key="k", rate=FIVE_PER_MINUTE)
    peek = throttle_peek(key="k", rate=FIVE_PER_MINUTE)
    assert peek.allowed and peek.hits == 4
    throttle_hit(key="k", rate=FIVE_PER_MINUTE)
    full = throttle_peek(key="k", rate=FIVE_PER_MINUTE)
    assert not full.allowed and full.hits == 5 and 0 < full.retry_after <= 60
    assert throttle_peek(key="k", rate=FIVE_PER_MINUTE).hits == 5


@pytest.mark.django_db
def test_long_keys_are_hashed_to_fit() -> None:
    key = "webhook-auth:" + "f" * 300
    assert throttle_hit(key=key, rate=FIVE_PER_MINUTE).hits == 1
    assert throttle_hit(key=key, rate=FIVE_PER_MINUTE).hits == 2
    stored = ThrottleCounter.objects.get()
    assert len(stored.key) <= 200 and "sha256:" in stored.key


@pytest.mark.django_db
def test_expired_counters_are_purged() -> None:
    throttle_hit(key="old", rate=FIVE_PER_MINUTE)
    throttle_hit(key="live", rate=FIVE_PER_MINUTE)
    ThrottleCounter.objects.filter(key__endswith=":old").update(expires_at=time.time() - 1)
    assert throttle_purge_expired() == 1
    assert [c.key.rsplit(":", 1)[1] for c in ThrottleCounter.objects.all()] == ["live"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_hits_on_postgresql_never_lose_a_count() -> None:
    from tests.conftest import run_together

    rate = Rate(limit=10, period=60, text="10/minute")
    decisions = run_together(40, lambda: throttle_hit(key="race", rate=rate))
    assert sorted(d.hits for d in decisions) == list(range(1, 41))
    assert sum(d.allowed for d in decisions) == 10


# ---------------------------------------------------------------------- the Redis store


@pytest.fixture
def redis_cache(settings: Any) -> Iterator[Any]:
    """Django's Redis cache on the test database 13, as the shared cache."""
    client = redis_or_skip(TEST_REDIS_URL)
    settings.CACHES = {
        **settings.CACHES,
        "throttles": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": TEST_REDIS_URL,
        },
    }
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "CACHE_ALIAS": "throttles"}
    yield client
    client.flushdb()


@pytest.mark.django_db
def test_with_a_redis_cache_counts_are_kept_in_redis(redis_cache: Any) -> None:
    assert throttle_store() == "cache"
    decisions = [throttle_hit(key="k", rate=FIVE_PER_MINUTE) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert 0 < decisions[-1].retry_after <= 60
    assert throttle_peek(key="k", rate=FIVE_PER_MINUTE).hits == 6
    assert not ThrottleCounter.objects.exists()
    keys = [k.decode() for k in redis_cache.keys("*")]
    assert any("clicktoagent:throttle:k" in k for k in keys)
    ttl = max(redis_cache.ttl(k) for k in redis_cache.keys("*"))
    assert 0 < ttl <= 60


@pytest.mark.django_db
def test_an_unreachable_cache_falls_back_to_the_database(settings, caplog) -> None:
    settings.CACHES = {
        **settings.CACHES,
        "throttles": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        },
    }
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "CACHE_ALIAS": "throttles"}
    assert throttle_hit(key="k", rate=FIVE_PER_MINUTE).hits == 1
    assert throttle_hit(key="k", rate=FIVE_PER_MINUTE).hits == 2
    assert ThrottleCounter.objects.get().hits == 2
    assert "throttles count in the database instead" in caplog.text


def test_a_process_local_cache_is_never_used_for_counts(settings) -> None:
    settings.CACHES = {
        **settings.CACHES,
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "table": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "cache_table",
        },
    }
    for alias in ("local", "table"):
        settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "CACHE_ALIAS": alias}
        assert throttle_store() == "database"


# ---------------------------------------------------------------------- config/


def _demo_setting(env: dict[str, str], name: str) -> str:
    code = f"import config.settings as s; print(repr(s.CLICKTOAGENT[{name!r}]))"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CLICKTOAGENT_")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


def test_demo_reads_the_api_create_rate_from_the_environment() -> None:
    assert _demo_setting({}, "API_CREATE_THROTTLE_RATE") == "'60/minute'"
    rate = {"CLICKTOAGENT_API_CREATE_THROTTLE_RATE": "600/minute"}
    assert _demo_setting(rate, "API_CREATE_THROTTLE_RATE") == "'600/minute'"
    off = {"CLICKTOAGENT_API_CREATE_THROTTLE_RATE": "none"}
    assert _demo_setting(off, "API_CREATE_THROTTLE_RATE") == "None"
    failures = {"CLICKTOAGENT_WEBHOOK_AUTH_FAILURES_PER_MINUTE": "5"}
    assert _demo_setting(failures, "WEBHOOK_AUTH_FAILURES_PER_MINUTE") == "5"
