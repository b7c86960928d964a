"""Checking one call against the safe-calling rules that apply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from django.conf import settings
from django.utils import timezone

from ..conf import app_settings
from ..models import Queue
from ..weekly import parse_dates, parse_ranges
from . import result as codes
from .locks import number_lock
from .records import DAY, Records
from .regions import (
    Entry,
    Place,
    calling_code,
    country_zones,
    entries,
    format_number,
    place,
    stored_forms,
    subdivision_code,
)
from .result import CallCheck, Violation
from .timing import HORIZON, Predicate, QueueHours, Windows, clock, describe, earliest, when


def call_check(
    *,
    phone_to_call: str,
    queue: Queue | None,
    record: int,
    warning: int,
    contact_region: str = "",
    at: datetime | None = None,
    override: bool = False,
    exclude_attempt_id: int | None = None,
    lock: bool = False,
    records: Records | None = None,
) -> CallCheck:
    """Check a call (``phone_to_call`` in E.164) at ``at`` (default now) against every
    rule in ``SAFE_CALLING_RULES`` (no queue: no queue hours). ``override`` skips the time
    rules (they are listed in ``overridden``); ``exclude_attempt_id`` leaves that attempt
    out of the daily count (the attempt being checked again right before it is sent).
    ``lock``, inside a transaction that then stores an attempt: when a daily cap applies
    to the number, count under a lock on it (:func:`~.locks.number_lock`), so concurrent
    calls cannot all pass the cap. ``records``: where the do-not-call entry and the
    recent attempts are read (default: the database, one query each)."""
    if at is not None and at.utcoffset() is None:
        raise ValueError(f"at must be an aware datetime, got {at!r}.")
    rules = set(app_settings.SAFE_CALLING_RULES or ())
    records = records or Records()
    where = place(phone_to_call)
    known = entries()
    applied = _applied(where, contact_region, known)
    cap, cap_by = _cap(applied.entries)
    if lock and codes.DAILY_CAP in rules and cap is not None:
        # Before reading the clock: attempts stored by whoever held the lock count.
        number_lock(where.e164)
    moment = (at if at is not None else timezone.now()).astimezone(UTC)

    found: list[Violation] = []
    predicates: list[Predicate] = []
    candidates: set[datetime] = set()
    horizon_end = moment + HORIZON
    adjustments: dict[str, int] = {}

    if codes.CALLING_HOURS in rules and applied.windows.windows:
        windows = applied.windows
        if not windows.ok(moment):
            found.append(_calling_hours(moment, windows, applied, where))
        predicates.append(windows.ok)
        candidates |= windows.candidates(moment, horizon_end)

    if codes.DO_NOT_CALL in rules:
        text = records.listed(where.e164)
        if text is not None:
            because = f" (reason: {text})" if text else ""
            found.append(
                Violation(
                    codes.DO_NOT_CALL,
                    f"{format_number(where.e164)} is on the do-not-call list{because}; "
                    "remove the entry to call it.",
                )
            )

    if codes.DAILY_CAP in rules and cap is not None:
        recent = records.recent(
            stored_forms(where.e164, phone_to_call), moment, exclude_attempt_id=exclude_attempt_id
        )
        if len(recent) >= cap:
            # Allowed again once the cap-th newest leaves the rolling window.
            expiry = recent[cap - 1].astimezone(UTC) + DAY
            shown = applied.windows.zones[0] if applied.windows.zones else settings.TIME_ZONE
            found.append(
                Violation(
                    codes.DAILY_CAP,
                    f"{len(recent)} call{'s' if len(recent) != 1 else ''} to this number in "
                    f"the last 24 hours; {cap_by} allows {cap} a day. Next allowed at "
                    f"{when(expiry, shown)}.",
                    expiry,
                )
            )
            predicates.append(lambda t: t >= expiry)
            candidates.add(expiry)

    if codes.RECORDING_CONSENT in rules and record == 1 and warning not in (1, 3):
        needs = [e.name for e in applied.entries if e.all_party_consent]
        if not needs and applied.state_unknown:
            needs = [f"{e.name} (state unknown)" for e in applied.entries if _unknown_all(e)]
        if needs:
            if app_settings.RECORDING_CONSENT == "block":
                found.append(
                    Violation(
                        codes.RECORDING_CONSENT,
                        f"Recording a call to {' and '.join(needs)} needs every party's "
                        "consent: send a warning the contact hears (warning 1 or 3), or "
                        "do not record.",
                    )
                )
            else:
                adjustments["warning"] = 1

    if codes.QUEUE_HOURS in rules and queue is not None:
        violation, hours = _queue_hours(queue, moment)
        if violation is not None:
            found.append(violation)
        if hours is not None:
            predicates.append(hours.ok)
            candidates |= hours.candidates(moment, horizon_end)

    violations = [v for v in found if not (override and v.rule in codes.TIME_RULES)]
    overridden = [v for v in found if override and v.rule in codes.TIME_RULES]
    if not violations:
        next_allowed: datetime | None = moment
    elif any(v.next_allowed_at is None for v in violations):
        next_allowed = None
    else:
        next_allowed = earliest(moment, predicates, candidates)
    return CallCheck(
        violations=tuple(violations),
        overridden=tuple(overridden),
        adjustments=adjustments,
        timezones=applied.windows.zones,
        region=applied.region,
        next_allowed_at=next_allowed,
    )


class Dialled(Protocol):
    """A call as the rules read it: a ``CallRequest`` or a stored ``CallAttempt``."""

    @property
    def phone_to_call(self) -> str: ...
    @property
    def queue(self) -> Queue: ...
    @property
    def record(self) -> int: ...
    @property
    def warning(self) -> int: ...


def call_check_for(call: Dialled, **options: Any) -> CallCheck:
    """:func:`call_check` of a call or an attempt (its number, queue, record and
    warning), with the other keyword arguments of :func:`call_check`."""
    return call_check(
        phone_to_call=call.phone_to_call,
        queue=call.queue,
        record=call.record,
        warning=call.warning,
        **options,
    )


def region_normalize(contact_region: str, *, phone_to_call: str) -> str:
    """A contact's state or province as given (``"FL"``, ``"fl"``, ``"US-FL"``, ``"Florida"``)
    -> its code in the number's country (``"US-FL"``); ``""`` for ``""``. ``ValueError``
    says what is wrong with one that names no state or province of that country."""
    text = (contact_region or "").strip()
    if not text:
        return ""
    country = place(phone_to_call).country
    if not country:
        raise ValueError(
            f"{phone_to_call!r} is not a phone number whose country is known, so the state "
            f"or province {text!r} cannot be checked."
        )
    code = subdivision_code(text, country, entries())
    if code is None:
        example = {"US": " (e.g. FL or US-FL)", "CA": " (e.g. ON or CA-ON)"}.get(country, "")
        raise ValueError(
            f"{text!r} is not a state or province of {country}, where {phone_to_call} "
            f"rings{example}."
        )
    return code


@dataclass(frozen=True)
class _Applied:
    """The entries that apply to a call, and what they make of it."""

    entries: tuple[Entry, ...]
    region: str
    state_unknown: bool
    zones_unknown: bool
    subdivision_names: frozenset[str]
    windows: Windows


def _applied(where: Place, contact_region: str, known: dict[str, Entry]) -> _Applied:
    subs: list[str] = []
    if contact_region and where.country:
        code = subdivision_code(contact_region, where.country, known)
        if code:  # callers check it with region_normalize first; a wrong one is ignored
            subs.append(code)
    subs += [code for code in where.subdivisions if code not in subs]
    chosen = [known[c] for c in (where.country, *subs) if c in known]
    zones = where.zones
    zones_unknown = not zones and bool(where.country)
    if zones_unknown:
        country = known.get(where.country)
        zones = (country.time_zones if country else ()) or country_zones(
            calling_code(where.country)
        )
    windows = tuple((e.name, e.calling_hours) for e in chosen if e.calling_hours)
    return _Applied(
        entries=tuple(chosen),
        region=",".join(subs) or where.country,
        state_unknown=not subs,
        subdivision_names=frozenset(e.name for e in chosen if "-" in e.code),
        zones_unknown=zones_unknown,
        windows=Windows(zones=tuple(zones), windows=windows),
    )


def _unknown_all(entry: Entry) -> bool:
    return "-" not in entry.code and entry.all_party_consent_if_state_unknown


def _cap(chosen: tuple[Entry, ...]) -> tuple[int | None, str]:
    caps = [(e.daily_cap, e.name) for e in chosen if e.daily_cap is not None]
    setting = app_settings.DAILY_CAP_PER_NUMBER
    if setting is not None:
        caps.append((int(setting), "CLICKTOAGENT['DAILY_CAP_PER_NUMBER']"))
    if not caps:
        return None, ""
    cap = min(c for c, _ in caps)
    return cap, " and ".join(name for c, name in caps if c == cap)


def _calling_hours(
    moment: datetime, windows: Windows, applied: _Applied, where: Place
) -> Violation:
    zone, names = windows.broken(moment) or ("UTC", [])
    # Name the state or province when its window is among those broken, not the country.
    specific = [n for n in names if n in applied.subdivision_names]
    names = specific or names
    ranges = [r for name, rs in windows.windows if name in names for r in rs]
    local = moment.astimezone(windows.tz(zone))
    spot = where.description or zone
    within = f"{spot} ({zone})" if spot != zone else zone
    if len(windows.zones) > 1 and not applied.zones_unknown:
        within += f", one of the number's {len(windows.zones)} time zones"
    names_text = " and ".join(names)
    alone = earliest(moment, [windows.ok], windows.candidates(moment, moment + HORIZON))
    message = (
        f"It is {clock(local)} on {local:%A} in {within}; calls to numbers in {names_text} "
        f"are allowed {describe(ranges)}."
    )
    if applied.zones_unknown:
        message += (
            f" The number's own time zone is unknown, so the call must be allowed in every "
            f"zone of {where.country} ({len(windows.zones)} zones)."
        )
    if alone is not None:
        message += f" Next allowed at {when(alone, zone)}."
    return Violation(codes.CALLING_HOURS, message, alone)


def _queue_hours(queue: Queue, moment: datetime) -> tuple[Violation | None, QueueHours | None]:
    name = str(queue)
    try:
        hours = QueueHours(
            zone=queue.timezone or settings.TIME_ZONE,
            ranges=parse_ranges(queue.opening_hours or []),
            closed=parse_dates(queue.closed_dates or []),
        )
        hours.tz  # noqa: B018  (a zone that does not exist fails here)
    except (ValueError, TypeError) as err:
        return (
            Violation(codes.QUEUE_HOURS, f"Queue {name}'s opening hours cannot be read: {err}"),
            None,
        )
    if hours.ok(moment):
        return None, hours
    local = moment.astimezone(hours.tz)
    alone = earliest(moment, [hours.ok], hours.candidates(moment, moment + HORIZON))
    if local.date() in hours.closed:
        why = f"closed on {local:%Y-%m-%d} (a closed date)"
    else:
        why = (
            f"closed at {clock(local)} on {local:%A} ({hours.zone}); it is open "
            f"{describe(hours.ranges)}"
        )
    if alone is None:
        then = f" It is not open at any time in the next {HORIZON.days} days."
    else:
        then = f" Next open at {when(alone, hours.zone)}."
    return Violation(codes.QUEUE_HOURS, f"Queue {name} is {why}.{then}", alone), hours
