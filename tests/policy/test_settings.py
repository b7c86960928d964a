"""SAFE_CALLING_REGIONS and SAFE_CALLING_RULES, the rules data, region_normalize and the
system checks."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from clicktoagent.policy.checks import region_normalize
from clicktoagent.policy.checks_system import check_safe_calling_settings
from clicktoagent.policy.regions import entries, shipped, shipped_checked
from clicktoagent.policy.result import CALLING_HOURS, RULES

from .conftest import check, utc

pytestmark = pytest.mark.safe_calling


def configure(settings, **values) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, **values}


def test_the_shipped_data_names_its_sources_and_when_they_were_checked() -> None:
    assert shipped_checked() == date(2026, 11, 27)
    for code, entry in entries().items():
        assert entry.source, code
        assert entry.checked == date(2026, 11, 27), code
    assert {c for c, e in entries().items() if e.daily_cap == 3} == {"US-FL", "US-OK", "US-MD"}
    consent = {c for c, e in entries().items() if e.all_party_consent}
    assert consent == {
        f"US-{s}" for s in ["CA", "DE", "FL", "IL", "MD", "MA", "MT", "NV", "NH", "PA", "WA", "CT"]
    }
    assert set(shipped()["regions"]) >= {"US", "CA", "US-FL", "US-OK", "US-MD", "US-WA", "US-CT"}


def test_regions_setting_changes_an_entry_and_adds_one(settings, only) -> None:
    only("calling_hours")
    configure(
        settings,
        SAFE_CALLING_REGIONS={
            "US-TX": {"name": "Texas", "calling_hours": ["mon-sat 09:00-21:00", "sun 12:00-21:00"]},
            "US-FL": {"calling_hours": ["mon-sun 09:00-20:00"]},
            "GB": {"name": "the United Kingdom", "calling_hours": ["mon-fri 09:00-20:00"]},
        },
    )
    assert entries()["US-FL"].daily_cap == 3  # kept from the shipped entry
    sunday_ten = utc(2026, 6, 14, 15, 0)  # 10:00 in Austin
    texas = check("+15125550100", sunday_ten)
    assert "numbers in Texas are allowed mon-sat 9:00-21:00, sun 12:00-21:00" in (
        texas.violations[0].message
    )
    assert texas.next_allowed_at == utc(2026, 6, 14, 17, 0)
    assert not check("+13055550100", utc(2026, 6, 16, 12, 30)).allowed  # 8:30 in Miami
    london = check("+442079460000", utc(2026, 6, 13, 10, 0))  # Saturday
    assert london.region == "GB" and london.next_allowed_at == utc(2026, 6, 15, 8, 0)


def test_an_entry_can_drop_its_window(settings, only) -> None:
    only("calling_hours")
    configure(settings, SAFE_CALLING_REGIONS={"US": {"calling_hours": []}})
    assert check("+15125550100", utc(2026, 6, 16, 8, 0)).allowed  # 3:00 in Austin
    assert not check("+13055550100", utc(2026, 6, 16, 8, 0)).allowed  # Florida's own window


@pytest.mark.parametrize(
    ("regions", "says"),
    [
        ({"florida": {}}, "is not a region code"),
        ({"US-FL": ["mon-sun 08:00-20:00"]}, "must be a dict"),
        ({"US-FL": {"hours": []}}, "unknown key(s) hours"),
        ({"US-FL": {"calling_hours": "mon-sun 08:00-20:00"}}, "calling_hours must be a list"),
        ({"US-FL": {"calling_hours": ["8-20"]}}, "is not like 'mon-fri 09:00-17:30'"),
        ({"US-FL": {"daily_cap": 0}}, "daily_cap must be a whole number"),
        ({"US-FL": {"all_party_consent": "yes"}}, "all_party_consent must be True or False"),
        ({"US": {"time_zones": ["Mars/Olympus"]}}, "not an IANA time zone"),
        ({"US-FL": {"checked": "last week"}}, "checked must be a date"),
        ("US-FL", "must be a dict of region code"),
    ],
)
def test_bad_regions_are_named(settings, regions, says) -> None:
    configure(settings, SAFE_CALLING_REGIONS=regions)
    with pytest.raises(ImproperlyConfigured) as err:
        check("+13055550100", utc(2026, 6, 16, 17, 0))
    assert says in str(err.value)
    assert "SAFE_CALLING_REGIONS" in str(err.value)
    ids = [m.id for m in check_safe_calling_settings()]
    assert "clicktoagent.E402" in ids


def test_rules_subset(settings) -> None:
    configure(settings, SAFE_CALLING_RULES=["queue_hours"])
    assert check("+13055550100", utc(2026, 6, 16, 3, 0)).allowed  # 23:00 in Miami
    configure(settings, SAFE_CALLING_RULES=None)
    assert check("+13055550100", utc(2026, 6, 16, 3, 0)).allowed
    configure(settings, SAFE_CALLING_RULES=("calling_hours",))
    assert [v.rule for v in check("+13055550100", utc(2026, 6, 16, 3, 0)).violations] == [
        CALLING_HOURS
    ]


@pytest.mark.parametrize(
    ("given", "number", "expected"),
    [
        ("FL", "+13125550100", "US-FL"),
        ("fl", "+13125550100", "US-FL"),
        (" us-fl ", "+13125550100", "US-FL"),
        ("Florida", "+13125550100", "US-FL"),
        ("new  york", "+13125550100", "US-NY"),
        ("DC", "+13125550100", "US-DC"),
        ("ON", "+14165550100", "CA-ON"),
        ("Quebec", "+14165550100", "CA-QC"),
        ("", "+14165550100", ""),
        ("FL", "3125550100", "US-FL"),  # as attempts store numbers
    ],
)
def test_region_normalize(given, number, expected) -> None:
    assert region_normalize(given, phone_to_call=number) == expected


@pytest.mark.parametrize(
    ("given", "number", "says"),
    [
        ("ON", "+13125550100", "'ON' is not a state or province of US"),
        ("FL", "+14165550100", "'FL' is not a state or province of CA"),
        ("Narnia", "+13125550100", "e.g. FL or US-FL"),
        ("SCT", "+442079460000", "not a state or province of GB"),
        ("FL", "not a number", "not a phone number"),
    ],
)
def test_region_normalize_errors(given, number, says) -> None:
    with pytest.raises(ValueError, match=says):
        region_normalize(given, phone_to_call=number)


def test_regions_setting_adds_subdivisions_of_other_countries(settings) -> None:
    configure(settings, SAFE_CALLING_REGIONS={"GB-SCT": {"name": "Scotland"}})
    assert region_normalize("sct", phone_to_call="+442079460000") == "GB-SCT"


# -- system checks -----------------------------------------------------------------------


def ids(settings=None, **values):
    if settings is not None:
        configure(settings, **values)
    return {m.id for m in check_safe_calling_settings()}


def test_the_defaults_pass_the_checks(settings) -> None:
    configure(settings, SAFE_CALLING_RULES=RULES)
    assert ids() == set()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"SAFE_CALLING_RULES": ("calling_hours", "lunch_break")}, {"E401", "W401"}),
        ({"SAFE_CALLING_RULES": "calling_hours"}, {"E401", "W401"}),
        ({"SAFE_CALLING_RULES": ()}, {"W401"}),
        ({"RECORDING_CONSENT": "warn"}, {"E403"}),
        ({"OUTSIDE_HOURS": "later"}, {"E404"}),
        ({"DAILY_CAP_PER_NUMBER": 0}, {"E405"}),
        ({"DAILY_CAP_PER_NUMBER": "3"}, {"E405"}),
        ({"SAFE_CALLING_REGIONS": {"US-FL": {"daily_cap": -1}}}, {"E402"}),
    ],
)
def test_bad_settings_are_reported(settings, values, expected) -> None:
    values.setdefault("SAFE_CALLING_RULES", RULES)
    assert ids(settings, **values) == {f"clicktoagent.{i}" for i in expected}


def test_the_checks_are_registered(settings, db) -> None:
    # db: Django 6.1's model checks ask SQLite whether it supports JSON fields.
    configure(settings, SAFE_CALLING_RULES=("calling_hours",), OUTSIDE_HOURS="never")
    found = {m.id for m in run_checks()}
    assert {"clicktoagent.W401", "clicktoagent.E404"} <= found
