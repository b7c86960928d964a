"""The time rules as predicates on instants, and the first instant they all allow.

Each time rule allows a union of half-open intervals of real time; their intersection
starts at ``at`` or at the start of one of them: a range opening in some zone, a local
midnight (the day after a closed date), a zone's DST transition (a clock jumping into a
range) or a cap's expiry. :func:`earliest` tests those candidates in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..weekly import DAYS, WeeklyRange, time_zone

HORIZON = timedelta(days=14)
Predicate = Callable[[datetime], bool]
_SAMPLE = timedelta(hours=3)


@dataclass(frozen=True)
class Windows:
    """Calling hours: every window (one per region entry) must hold in every zone."""

    zones: tuple[str, ...]
    windows: tuple[tuple[str, tuple[WeeklyRange, ...]], ...]  # (entry name, its ranges)
    _tz: dict[str, ZoneInfo] = field(default_factory=dict, compare=False, repr=False)

    def tz(self, name: str) -> ZoneInfo:
        if name not in self._tz:
            self._tz[name] = time_zone(name)
        return self._tz[name]

    def broken(self, at: datetime) -> tuple[str, list[str]] | None:
        """The first zone where a window does not hold at ``at``, and the names of the
        windows that do not; None when all hold everywhere."""
        for zone in self.zones:
            local = at.astimezone(self.tz(zone))
            names = [
                name for name, ranges in self.windows if not any(r.contains(local) for r in ranges)
            ]
            if names:
                return zone, names
        return None

    def ok(self, at: datetime) -> bool:
        return self.broken(at) is None

    def candidates(self, start: datetime, end: datetime) -> set[datetime]:
        found: set[datetime] = set()
        for zone in self.zones:
            tz = self.tz(zone)
            for _, ranges in self.windows:
                found |= range_starts(tz, ranges, start, end)
            found |= transitions(tz, start, end)
        return found


@dataclass(frozen=True)
class QueueHours:
    """A queue's opening hours in its zone, and the whole days it is closed."""

    zone: str
    ranges: tuple[WeeklyRange, ...]
    closed: frozenset[date]

    @property
    def tz(self) -> ZoneInfo:
        return time_zone(self.zone)

    def ok(self, at: datetime) -> bool:
        local = at.astimezone(self.tz)
        if local.date() in self.closed:
            return False
        return not self.ranges or any(r.contains(local) for r in self.ranges)

    def candidates(self, start: datetime, end: datetime) -> set[datetime]:
        tz = self.tz
        return (
            range_starts(tz, self.ranges, start, end)
            | midnights(tz, start, end)
            | (transitions(tz, start, end))
        )


def _local_days(tz: ZoneInfo, start: datetime, end: datetime) -> Iterable[date]:
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    while day <= last:
        yield day
        day += timedelta(days=1)


def _instants(tz: ZoneInfo, day: date, minute: int) -> set[datetime]:
    """The instants whose wall clock in ``tz`` reads ``day`` at ``minute``: both of an
    ambiguous time; for a time that does not exist (a spring gap) the two readings
    straddle it and the transition itself is a candidate too (:func:`transitions`)."""
    naive = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
    return {naive.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)}


def range_starts(
    tz: ZoneInfo, ranges: Iterable[WeeklyRange], start: datetime, end: datetime
) -> set[datetime]:
    found: set[datetime] = set()
    for day in _local_days(tz, start, end):
        for r in ranges:
            if day.weekday() in r.days:
                found |= _instants(tz, day, r.start)
    return found


def midnights(tz: ZoneInfo, start: datetime, end: datetime) -> set[datetime]:
    found: set[datetime] = set()
    for day in _local_days(tz, start, end):
        found |= _instants(tz, day, 0)
    return found


def transitions(tz: ZoneInfo, start: datetime, end: datetime) -> set[datetime]:
    """The instants in [start, end] at which ``tz``'s offset changes (to the second)."""
    found: set[datetime] = set()
    moment = start.astimezone(UTC)
    offset = moment.astimezone(tz).utcoffset()
    while moment < end:
        later = min(moment + _SAMPLE, end.astimezone(UTC))
        later_offset = later.astimezone(tz).utcoffset()
        if later_offset != offset:
            low, high = moment, later  # offset(low) == offset, offset(high) != offset
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if middle <= low:
                    break
                if middle.astimezone(tz).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            found.add(high)
        moment, offset = later, later_offset
    return found


def earliest(
    at: datetime,
    predicates: Iterable[Predicate],
    candidates: Iterable[datetime],
    *,
    horizon: timedelta = HORIZON,
) -> datetime | None:
    """The first instant from ``at`` (within ``horizon``) at which every predicate holds."""
    checks = list(predicates)
    start = at.astimezone(UTC)
    end = start + horizon
    for moment in sorted({start, *(c for c in candidates if start <= c <= end)}):
        if all(check(moment) for check in checks):
            return moment
    return None


# Text for people.


def clock(local: datetime) -> str:
    """``7:12``."""
    return f"{local.hour}:{local.minute:02d}"


def when(moment: datetime, zone: str) -> str:
    """``8:00 on Tuesday 2026-03-10 (America/Chicago)``."""
    local = moment.astimezone(time_zone(zone))
    return f"{clock(local)} on {local:%A} {local:%Y-%m-%d} ({zone})"


def _minutes(value: int) -> str:
    return f"{value // 60}:{value % 60:02d}"


def _days(days: frozenset[int]) -> str:
    if len(days) == 7:
        return "every day"
    ordered = sorted(days)
    groups: list[list[int]] = []
    for day in ordered:
        if groups and groups[-1][-1] == day - 1:
            groups[-1].append(day)
        else:
            groups.append([day])
    return ",".join(DAYS[g[0]] if len(g) == 1 else f"{DAYS[g[0]]}-{DAYS[g[-1]]}" for g in groups)


def describe(ranges: Iterable[WeeklyRange]) -> str:
    """``every day 8:00-20:00`` or ``mon-fri 9:00-21:30, sat-sun 10:00-18:00``."""
    return ", ".join(f"{_days(r.days)} {_minutes(r.start)}-{_minutes(r.end)}" for r in ranges)
