"""Property tests of calling hours: an allowed call lies in every window of every zone; a
blocked one gets the first instant that is allowed, checked against an oracle written
here from the windows themselves (not from the engine's own data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from clicktoagent.policy.result import CALLING_HOURS

from .conftest import check

pytestmark = pytest.mark.safe_calling

EVERY_DAY = frozenset(range(7))


# (weekdays, first minute, end minute), as weekly ranges are.
def window(start: float, end: float, days: frozenset[int] = EVERY_DAY):
    return (days, int(start * 60), int(end * 60))


US = (window(8, 21),)
STRICT_8_20 = (window(8, 20),)
CANADA = (window(9, 21.5, frozenset(range(5))), window(10, 18, frozenset({5, 6})))
# Area code + exchange -> the windows that must all hold (each one a union of ranges).
NUMBERS = {
    "+1305555": [US, STRICT_8_20],  # Florida, Eastern
    "+1850432": [US, STRICT_8_20],  # Florida panhandle, Central
    "+1405555": [US, STRICT_8_20],  # Oklahoma
    "+1410555": [US, STRICT_8_20],  # Maryland
    "+1206555": [US, STRICT_8_20],  # Washington
    "+1203555": [US, (window(9, 20),)],  # Connecticut
    "+1415555": [US],  # California (consent only)
    "+1312555": [US],  # Illinois
    "+1208555": [US],  # Idaho: Boise and Los Angeles
    "+1602555": [US],  # Arizona, no DST
    "+1808555": [US],  # Hawaii
    "+1907555": [US],  # Alaska
    "+1800555": [US],  # toll free: every zone
    "+1416555": [CANADA],  # Ontario
    "+1514555": [CANADA],  # Quebec
    "+1604555": [CANADA],  # British Columbia
    "+1306555": [CANADA],  # Saskatchewan, no DST
    "+1709555": [CANADA],  # Newfoundland: Halifax and St John's
}

numbers = st.builds(
    lambda prefix, line: f"{prefix}{line:04d}",
    st.sampled_from(sorted(NUMBERS)),
    st.integers(min_value=100, max_value=9999),
)
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


def oracle(prefix: str, zones: tuple[str, ...], at: datetime) -> bool:
    for zone in zones:
        local = at.astimezone(ZoneInfo(zone))
        minute = local.hour * 60 + local.minute
        for ranges in NUMBERS[prefix]:
            if not any(
                local.weekday() in days and start <= minute < end for days, start, end in ranges
            ):
                return False
    return True


def calling_hours_only():
    return override_settings(
        CLICKTOAGENT={**django_settings.CLICKTOAGENT, "SAFE_CALLING_RULES": ("calling_hours",)}
    )


@settings(max_examples=250, deadline=None)
@given(number=numbers, at=instants)
def test_allowed_iff_inside_every_window_and_next_is_the_first_allowed(number, at) -> None:
    prefix = number[:8]
    with calling_hours_only():
        result = check(number, at)
        assert result.timezones, number
        allowed = oracle(prefix, result.timezones, at)
        assert result.allowed == allowed
        if allowed:
            assert result.next_allowed_at == at
            return
        nxt = result.next_allowed_at
        assert nxt is not None and nxt > at
        (violation,) = result.violations
        assert violation.rule == CALLING_HOURS and violation.next_allowed_at == nxt
        # Itself allowed, by the oracle and by the engine.
        assert oracle(prefix, result.timezones, nxt)
        assert CALLING_HOURS not in {v.rule for v in check(number, nxt).violations}
        # Nothing earlier is: the second before, and a sample of the instants between.
        assert not oracle(prefix, result.timezones, nxt - timedelta(seconds=1))
        step = max((nxt - at) / 97, timedelta(minutes=1))
        moment = at
        while moment < nxt:
            assert not oracle(prefix, result.timezones, moment), moment
            moment += step


@settings(max_examples=60, deadline=None)
@given(number=numbers, at=instants, minutes=st.integers(min_value=1, max_value=600))
def test_the_next_instant_does_not_move_while_waiting_for_it(number, at, minutes) -> None:
    with calling_hours_only():
        first = check(number, at)
        if first.allowed:
            return
        assert first.next_allowed_at is not None
        later = min(at + timedelta(minutes=minutes), first.next_allowed_at)
        assert check(number, later).next_allowed_at == first.next_allowed_at
