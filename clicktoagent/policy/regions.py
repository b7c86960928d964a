"""The rules data (``rules.toml`` with ``SAFE_CALLING_REGIONS`` over it), and where a
number is: its country, its state or province, its time zones."""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import phonenumbers
from django.core.exceptions import ImproperlyConfigured
from phonenumbers import timezone as phone_timezone
from phonenumbers.tzdata import TIMEZONE_DATA

from ..conf import app_settings
from ..weekly import WeeklyRange, parse_ranges, time_zone

RULES_FILE = Path(__file__).with_name("rules.toml")
UNKNOWN_ZONE = "Etc/Unknown"
_CODE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
KEYS = frozenset(
    {
        "name",
        "calling_hours",
        "daily_cap",
        "all_party_consent",
        "all_party_consent_if_state_unknown",
        "time_zones",
        "source",
        "checked",
    }
)

US_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan",
    "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota",
    "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee",
    "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington",
    "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}  # fmt: skip
CA_PROVINCES = {
    "AB": "Alberta", "BC": "British Columbia", "MB": "Manitoba", "NB": "New Brunswick",
    "NL": "Newfoundland and Labrador", "NS": "Nova Scotia", "NT": "Northwest Territories",
    "NU": "Nunavut", "ON": "Ontario", "PE": "Prince Edward Island", "QC": "Quebec",
    "SK": "Saskatchewan", "YT": "Yukon",
}  # fmt: skip
SUBDIVISIONS = {"US": US_STATES, "CA": CA_PROVINCES}
# Other spellings, in the geocoder's descriptions or as people write them.
_ALIASES = {
    "washington state": "US-WA",
    "washington d.c.": "US-DC",
    "washington dc": "US-DC",
    "british colombia": "CA-BC",
    "newfoundland": "CA-NL",
    "labrador": "CA-NL",
    "québec": "CA-QC",
    "pei": "CA-PE",
}


@dataclass(frozen=True)
class Entry:
    """One region's rules (see rules.toml for the keys)."""

    code: str
    name: str
    calling_hours: tuple[WeeklyRange, ...] = ()
    daily_cap: int | None = None
    all_party_consent: bool = False
    all_party_consent_if_state_unknown: bool = False
    time_zones: tuple[str, ...] = ()
    source: str = ""
    checked: date | None = None

    @property
    def country(self) -> str:
        return self.code[:2]


@functools.cache
def shipped() -> dict[str, Any]:
    """``rules.toml`` as read: ``{"checked": date, "regions": {code: {...}}}``."""
    with RULES_FILE.open("rb") as file:
        return tomllib.load(file)


def shipped_checked() -> date:
    """When the shipped data was last checked against its sources."""
    checked: date = shipped()["checked"]
    return checked


def entries() -> dict[str, Entry]:
    """Every region's entry: the shipped data with ``SAFE_CALLING_REGIONS`` over it.
    ``ImproperlyConfigured`` names what is wrong with the setting."""
    overrides = app_settings.SAFE_CALLING_REGIONS or {}
    if not isinstance(overrides, Mapping):
        raise ImproperlyConfigured(
            "CLICKTOAGENT['SAFE_CALLING_REGIONS'] must be a dict of region code -> entry, "
            f'e.g. {{"US-TX": {{"calling_hours": ["mon-sun 09:00-21:00"]}}}}; got {overrides!r}.'
        )
    try:
        key = json.dumps(overrides, sort_keys=True, default=str)
    except (TypeError, ValueError):
        key = repr(overrides)
    return _entries(key, _frozen(overrides))


def _frozen(overrides: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple((str(code), value) for code, value in overrides.items())


_CACHE: dict[str, dict[str, Entry]] = {}


def _entries(key: str, overrides: tuple[tuple[str, Any], ...]) -> dict[str, Entry]:
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    data: dict[str, dict[str, Any]] = {
        code: dict(raw) for code, raw in shipped()["regions"].items()
    }
    for code, raw in overrides:
        where = f"CLICKTOAGENT['SAFE_CALLING_REGIONS'][{code!r}]"
        if not _CODE.match(code):
            raise ImproperlyConfigured(
                f"{where}: {code!r} is not a region code like 'US', 'US-FL' or 'CA-ON'."
            )
        if not isinstance(raw, Mapping):
            raise ImproperlyConfigured(
                f"{where} must be a dict of keys ({', '.join(sorted(KEYS))})."
            )
        data[code] = {**data.get(code, {}), **raw}
    result = {}
    for code, raw in data.items():
        where = f"CLICKTOAGENT['SAFE_CALLING_REGIONS'][{code!r}]"
        try:
            result[code] = _entry(code, raw)
        except ValueError as err:
            raise ImproperlyConfigured(f"{where}: {err}") from None
    if len(_CACHE) > 32:
        _CACHE.clear()
    _CACHE[key] = result
    return result


def _entry(code: str, raw: Mapping[str, Any]) -> Entry:
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise ValueError(
            f"unknown key(s) {', '.join(unknown)}; the keys are {', '.join(sorted(KEYS))}."
        )
    hours = raw.get("calling_hours") or []
    if not isinstance(hours, list | tuple) or not all(isinstance(h, str) for h in hours):
        raise ValueError(
            f'calling_hours must be a list like ["mon-sun 08:00-21:00"], got {hours!r}.'
        )
    cap = raw.get("daily_cap")
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
        raise ValueError(f"daily_cap must be a whole number of at least 1, or None; got {cap!r}.")
    flags = {}
    for flag in ("all_party_consent", "all_party_consent_if_state_unknown"):
        value = raw.get(flag, False)
        if not isinstance(value, bool):
            raise ValueError(f"{flag} must be True or False, got {value!r}.")
        flags[flag] = value
    zones = raw.get("time_zones") or []
    if not isinstance(zones, list | tuple):
        raise ValueError(f"time_zones must be a list of IANA zone names, got {zones!r}.")
    for zone in zones:
        time_zone(str(zone))
    checked = raw.get("checked")
    if isinstance(checked, str):
        try:
            checked = date.fromisoformat(checked)
        except ValueError:
            raise ValueError(f"checked must be a date like 2026-11-27, got {checked!r}.") from None
    if checked is not None and not isinstance(checked, date):
        raise ValueError(f"checked must be a date like 2026-11-27, got {checked!r}.")
    return Entry(
        code=code,
        name=str(raw.get("name") or subdivision_name(code) or code),
        calling_hours=parse_ranges(hours),
        daily_cap=cap,
        all_party_consent=flags["all_party_consent"],
        all_party_consent_if_state_unknown=flags["all_party_consent_if_state_unknown"],
        time_zones=tuple(str(zone) for zone in zones),
        source=str(raw.get("source") or ""),
        checked=checked,
    )


def subdivision_name(code: str) -> str:
    """``"US-FL"`` -> ``"Florida"``; ``""`` when not known."""
    country, _, sub = code.partition("-")
    return SUBDIVISIONS.get(country, {}).get(sub, "")


def subdivision_code(text: str, country: str, known: Mapping[str, Entry]) -> str | None:
    """A state or province as written (``"FL"``, ``"US-FL"``, ``"Florida"``) -> its code
    in ``country`` (``"US-FL"``); None when it names none. Codes of ``known`` entries
    count too (``SAFE_CALLING_REGIONS`` may add a country's subdivisions)."""
    cleaned = " ".join(text.strip().split()).lower()
    if not cleaned:
        return None
    names = SUBDIVISIONS.get(country, {})
    codes = {sub for sub in names} | {
        c.partition("-")[2] for c in known if c.startswith(f"{country}-")
    }
    upper = cleaned.upper()
    if upper.startswith(f"{country}-"):
        upper = upper[len(country) + 1 :]
    if upper in codes:
        return f"{country}-{upper}"
    for sub, name in names.items():
        if name.lower() == cleaned:
            return f"{country}-{sub}"
    alias = _ALIASES.get(cleaned)
    if alias and alias.startswith(f"{country}-"):
        return alias
    return None


@dataclass(frozen=True)
class Place:
    """Where a number rings, as far as its digits tell."""

    country: str  # "US", "CA", "GB"...; "" when not known
    subdivisions: tuple[str, ...]  # from the area code: ("US-FL",), or several, or ()
    description: str  # the geocoder's: "Pensacola, FL", "Florida", or ""
    zones: tuple[str, ...]  # the number's own zones; () when not known
    e164: str


def place(phone_to_call: str) -> Place:
    """Where ``phone_to_call`` rings (E.164, or as stored: national digits for NANP)."""
    try:
        number = phonenumbers.parse(phone_to_call, app_settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return Place("", (), "", (), phone_to_call)
    country = phonenumbers.region_code_for_number(number) or (
        phonenumbers.region_code_for_country_code(number.country_code or 0) or ""
    )
    if country == "ZZ":
        country = ""
    zones = tuple(z for z in phone_timezone.time_zones_for_number(number) if z != UNKNOWN_ZONE)
    # Imported on first use: its data takes ~100 MiB, which a process that never checks
    # a number (rules off, a worker for callbacks or write-backs, a command) never pays.
    from phonenumbers import geocoder

    description = geocoder.description_for_number(number, "en") or ""
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Place(country, _subdivisions(description, country), description, zones, e164)


def _subdivisions(description: str, country: str) -> tuple[str, ...]:
    """The geocoder's description -> state/province codes: "Miami, FL" -> ("US-FL",);
    "Nova Scotia/Prince Edward Island" -> ("CA-NS", "CA-PE")."""
    if country not in SUBDIVISIONS or not description:
        return ()
    # "Miami, FL": the state after the comma; "Nova Scotia/Prince Edward Island": either.
    parts = description.rsplit(", ", 1)[1:] if ", " in description else description.split("/")
    found = []
    for part in parts:
        code = subdivision_code(part, country, {})
        if code and code not in found:
            found.append(code)
    return tuple(found)


@functools.cache
def country_zones(country_code: int) -> tuple[str, ...]:
    """Every zone phonenumbers knows for a calling code (for a country with no
    ``time_zones`` in its entry)."""
    prefix = str(country_code)
    zones = {
        zone
        for key, values in TIMEZONE_DATA.items()
        if key.startswith(prefix)
        for zone in values
        if zone != UNKNOWN_ZONE
    }
    return tuple(sorted(zones))


def calling_code(country: str) -> int:
    return int(phonenumbers.country_code_for_region(country)) if country else 0


def format_number(e164: str) -> str:
    """``+13055550100`` -> ``+1 305-555-0100`` (as it is when it cannot be read)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def stored_forms(e164: str, raw: str) -> list[str]:
    """The ways an attempt may hold the number: as ``normalize_phone`` stores it
    (``3125550123``; country code + number outside NANP), in E.164, and as given."""
    forms = [raw]
    if e164.startswith("+"):
        digits = e164[1:]
        forms += [e164, digits[1:] if digits.startswith("1") else digits]
    return sorted(set(forms))
