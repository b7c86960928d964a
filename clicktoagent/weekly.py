"""Weekly opening hours written as text: ``"mon-fri 09:00-17:30"``, ``"sat,sun 10:00-14:00"``.

Used by a queue's opening hours and by the calling-hours rules (``clicktoagent.policy``).
A range lies within one day: from its start up to, not including, its end (``24:00`` is
the end of the day). A range past midnight is written as two.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.core.exceptions import ValidationError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(
    r"^\s*(?P<days>[a-z,\-\s]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)


@dataclass(frozen=True)
class WeeklyRange:
    """Some days of the week (0 is Monday), from ``start`` to ``end`` minutes after midnight."""

    days: frozenset[int]
    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> WeeklyRange:
        """Read ``"mon-fri 09:00-17:30"``; ``ValueError`` says what is wrong."""
        if not isinstance(text, str):
            raise ValueError(f"{text!r} is not text like 'mon-fri 09:00-17:30'.")
        match = _RANGE.match(text.lower())
        if match is None:
            raise ValueError(f"{text!r} is not like 'mon-fri 09:00-17:30'.")
        start = _minutes(match["start"], text)
        end = _minutes(match["end"], text)
        if start >= end:
            raise ValueError(
                f"{text!r} ends before it starts; write a range past midnight as two ranges."
            )
        return cls(days=_days(match["days"], text), start=start, end=end)

    def contains(self, local: datetime) -> bool:
        """Whether the local (wall clock) time ``local`` lies in this range."""
        minute = local.hour * 60 + local.minute
        return local.weekday() in self.days and self.start <= minute < self.end

    def __str__(self) -> str:
        days = ",".join(DAYS[day] for day in sorted(self.days))
        return f"{days} {_clock(self.start)}-{_clock(self.end)}"


def _minutes(clock: str, text: str) -> int:
    hours, minutes = (int(part) for part in clock.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{clock!r} in {text!r} is not a time of day (00:00 to 24:00).")
    return hours * 60 + minutes


def _days(spec: str, text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(
                f"{part!r} in {text!r} is not a day or a range of days (mon, tue, ... sun)."
            )
        a, b = DAYS.index(first), DAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_ranges(texts: Iterable[str]) -> tuple[WeeklyRange, ...]:
    """Every range of a list; ``ValueError`` for the first that is wrong."""
    return tuple(WeeklyRange.parse(text) for text in texts)


def parse_dates(texts: Iterable[str]) -> frozenset[date]:
    """ISO dates (``"2026-12-25"``); ``ValueError`` names the first that is not one."""
    days: set[date] = set()
    for text in texts:
        try:
            days.add(date.fromisoformat(str(text)))
        except ValueError:
            raise ValueError(f"{text!r} is not a date like 2026-12-25.") from None
    return frozenset(days)


def validate_opening_hours(value: Any) -> None:
    """Model validator: a list of ranges like ``"mon-fri 09:00-17:30"``."""
    if not isinstance(value, list):
        raise ValidationError('Opening hours are a list, e.g. ["mon-fri 09:00-17:30"].')
    _validate(parse_ranges, value)


def validate_closed_dates(value: Any) -> None:
    """Model validator: a list of ISO dates."""
    if not isinstance(value, list):
        raise ValidationError('Closed dates are a list, e.g. ["2026-12-25"].')
    _validate(parse_dates, value)


def _validate(parse: Callable[[Any], object], value: Any) -> None:
    """Run ``parse`` on a field's value; its ``ValueError`` becomes a ``ValidationError``."""
    try:
        parse(value)
    except ValueError as err:
        raise ValidationError(str(err)) from None


_zone_names = functools.cache(available_timezones)


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``ValueError`` when there is none of that name."""
    if name not in _zone_names():
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. America/Chicago).")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. America/Chicago).") from None


def validate_time_zone(value: str) -> None:
    """Model validator: empty, or an IANA time zone name."""
    if value:
        _validate(time_zone, value)
