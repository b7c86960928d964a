"""calling_hours: every window of the number's regions, in every one of its zones."""

from __future__ import annotations

import pytest

from clicktoagent.policy.result import CALLING_HOURS, QUEUE_HOURS

from .conftest import check, open_queue, utc

pytestmark = pytest.mark.safe_calling


@pytest.fixture(autouse=True)
def _calling_hours_only(only) -> None:
    only("calling_hours")


def rules_of(result):
    return [v.rule for v in result.violations]


def test_a_florida_panhandle_number_before_eight_names_place_zone_and_opening() -> None:
    # 7:12 CDT in Pensacola (Central time), though most of Florida is Eastern.
    result = check("+18504321234", utc(2026, 3, 10, 12, 12))
    assert result.timezones == ("America/Chicago",)
    assert result.region == "US-FL"
    (violation,) = result.violations
    assert violation.rule == CALLING_HOURS
    assert violation.message.startswith(
        "It is 7:12 on Tuesday in Pensacola, FL (America/Chicago); calls to numbers in "
        "Florida are allowed every day 8:00-20:00."
    )
    assert violation.next_allowed_at == result.next_allowed_at == utc(2026, 3, 10, 13, 0)
    assert result.waits


def test_850_central_and_305_eastern_differ_by_an_hour() -> None:
    morning = utc(2026, 3, 10, 12, 30)  # 8:30 in Miami, 7:30 in Pensacola
    assert check("+13055550100", morning).allowed
    assert not check("+18504321234", morning).allowed
    evening = utc(2026, 3, 11, 0, 30)  # 20:30 in Miami (past Florida's 20:00), 19:30 in Pensacola
    assert check("+18504321234", evening).allowed
    miami = check("+13055550100", evening)
    assert rules_of(miami) == [CALLING_HOURS]
    assert miami.next_allowed_at == utc(2026, 3, 11, 12, 0)


def test_area_code_208_must_be_allowed_in_boise_and_in_los_angeles() -> None:
    result = check("+12085550100", utc(2026, 3, 10, 14, 30))  # 8:30 Boise, 7:30 LA
    assert result.timezones == ("America/Boise", "America/Los_Angeles")
    assert "America/Los_Angeles" in result.violations[0].message
    assert "one of the number's 2 time zones" in result.violations[0].message
    assert result.next_allowed_at == utc(2026, 3, 10, 15, 0)
    assert check("+12085550100", utc(2026, 3, 10, 15, 0)).allowed
    late = check("+12085550100", utc(2026, 3, 11, 3, 30))  # 21:30 Boise, 20:30 LA
    assert "America/Boise" in late.violations[0].message
    assert late.next_allowed_at == utc(2026, 3, 11, 15, 0)


@pytest.mark.parametrize(
    ("number", "region", "opens", "closes"),
    [
        ("+14055550100", "US-OK", (8, 0), (20, 0)),  # Oklahoma, Central
        ("+14105550100", "US-MD", (8, 0), (20, 0)),  # Maryland, Eastern
        ("+12065550100", "US-WA", (8, 0), (20, 0)),  # Washington, Pacific
        ("+12035550100", "US-CT", (9, 0), (20, 0)),  # Connecticut, Eastern
        ("+15125550100", "US-TX", (8, 0), (21, 0)),  # Texas: the federal window
    ],
)
def test_state_windows(number, region, opens, closes) -> None:
    from zoneinfo import ZoneInfo

    from clicktoagent.policy.regions import place

    zone = ZoneInfo(place(number).zones[0])
    from datetime import datetime

    def at(hour: int, minute: int) -> object:
        return datetime(2026, 6, 10, hour, minute, tzinfo=zone)

    assert check(number, at(*opens)).allowed
    assert check(number, at(*opens)).region == region
    before = check(number, at(opens[0] - 1, 59))
    assert not before.allowed and before.next_allowed_at == at(*opens)
    assert check(number, at(closes[0] - 1, 59)).allowed
    assert not check(number, at(*closes)).allowed


def test_canada_weekdays_and_weekends() -> None:
    # Toronto, Saturday 2026-06-13 9:30 EDT: weekends open at 10:00.
    saturday = check("+14165550100", utc(2026, 6, 13, 13, 30))
    assert saturday.region == "CA-ON"
    assert saturday.next_allowed_at == utc(2026, 6, 13, 14, 0)
    assert "sat-sun 10:00-18:00" in saturday.violations[0].message
    # 18:30 on Saturday: next is Sunday 10:00.
    assert check("+14165550100", utc(2026, 6, 13, 22, 30)).next_allowed_at == utc(
        2026, 6, 14, 14, 0
    )
    # Sunday 21:00 -> Monday 9:00; Monday 21:00 is allowed (until 21:30).
    assert check("+14165550100", utc(2026, 6, 15, 1, 0)).next_allowed_at == utc(2026, 6, 15, 13, 0)
    assert check("+14165550100", utc(2026, 6, 16, 1, 0)).allowed
    assert check("+15145550100", utc(2026, 6, 16, 1, 0)).region == "CA-QC"


def test_newfoundland_area_code_709_holds_in_halifax_and_st_johns() -> None:
    morning = check("+17095550100", utc(2026, 6, 15, 11, 45))  # 8:45 Halifax, 9:15 St John's
    assert set(morning.timezones) == {"America/Halifax", "America/St_Johns"}
    assert morning.region == "CA-NL"
    assert "America/Halifax" in morning.violations[0].message
    assert morning.next_allowed_at == utc(2026, 6, 15, 12, 0)
    evening = check("+17095550100", utc(2026, 6, 16, 0, 15))  # 21:15 Halifax, 21:45 St John's
    assert "America/St_Johns" in evening.violations[0].message
    assert evening.next_allowed_at == utc(2026, 6, 16, 12, 0)


def test_toll_free_number_must_suit_every_zone() -> None:
    result = check("+18005550100", utc(2026, 6, 15, 12, 0))
    assert len(result.timezones) > 10
    assert result.region == "US"
    assert not result.allowed
    assert result.next_allowed_at is not None
    assert check("+18005550100", result.next_allowed_at).allowed


def test_a_number_with_no_known_zone_takes_every_zone_of_its_country() -> None:
    # Area code 555 is not in service: phonenumbers knows no zone for it.
    result = check("+15555550100", utc(2026, 6, 15, 15, 0))  # 11:00 New York, 5:00 Honolulu
    assert "Pacific/Honolulu" in result.timezones and "America/New_York" in result.timezones
    assert result.region == "US"
    (violation,) = result.violations
    assert "time zone is unknown" in violation.message
    assert result.next_allowed_at == utc(2026, 6, 15, 18, 0)  # 8:00 in Honolulu


def test_numbers_outside_the_us_and_canada_have_no_calling_hours() -> None:
    result = check("+442079460000", utc(2026, 6, 15, 2, 0))  # 3:00 in London
    assert result.allowed
    assert result.region == "GB"
    assert result.timezones == ("Europe/London",)


def test_contact_region_stricter_than_the_area_code() -> None:
    at = utc(2026, 6, 16, 1, 30)  # 20:30 in Chicago
    assert check("+13125550100", at).allowed
    result = check("+13125550100", at, contact_region="FL")
    assert result.region == "US-FL,US-IL"  # the contact's state first
    assert "Florida" in result.violations[0].message
    assert result.next_allowed_at == utc(2026, 6, 16, 13, 0)


# -- DST -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "at", "expected"),
    [
        # US spring forward, Sunday 2026-03-08: Chicago opens at 8:00 CDT = 13:00 UTC.
        ("+13125550100", utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 13, 0)),
        # The day before, still CST: 8:00 = 14:00 UTC.
        ("+13125550100", utc(2026, 3, 7, 7, 0), utc(2026, 3, 7, 14, 0)),
        # US fall back, Sunday 2026-11-01: 8:00 CST = 14:00 UTC.
        ("+13125550100", utc(2026, 11, 1, 6, 0), utc(2026, 11, 1, 14, 0)),
        # Late evening before fall back: 21:00 CDT on Oct 31 -> Nov 1 8:00 CST.
        ("+13125550100", utc(2026, 11, 1, 2, 30), utc(2026, 11, 1, 14, 0)),
        # Canada, the same Sundays (weekend window from 10:00): Toronto.
        ("+14165550100", utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 14, 0)),
        ("+14165550100", utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 15, 0)),
        # Saskatchewan keeps CST all year.
        ("+13065550100", utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 16, 0)),
        # Arizona keeps MST.
        ("+16025550100", utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 15, 0)),
    ],
)
def test_windows_open_at_local_time_on_transition_days(number, at, expected) -> None:
    result = check(number, at)
    assert result.next_allowed_at == expected
    assert check(number, expected).allowed
    from datetime import timedelta

    assert not check(number, expected - timedelta(seconds=1)).allowed


# -- queue hours across a transition ----------------------------------------------------


def test_queue_opening_in_the_spring_gap_opens_at_the_transition(only) -> None:
    only("queue_hours")
    queue = open_queue(timezone="America/New_York", opening_hours=["sun 02:30-05:00"])
    result = check("+13125550100", utc(2026, 3, 8, 6, 0), queue=queue)  # 1:00 EST
    assert [v.rule for v in result.violations] == [QUEUE_HOURS]
    assert result.next_allowed_at == utc(2026, 3, 8, 7, 0)  # the clock jumps to 3:00 EDT


def test_queue_hours_in_the_repeated_autumn_hour(only) -> None:
    only("queue_hours")
    queue = open_queue(timezone="America/New_York", opening_hours=["sun 01:30-02:00"])
    assert check("+13125550100", utc(2026, 11, 1, 5, 0), queue=queue).next_allowed_at == utc(
        2026, 11, 1, 5, 30
    )  # 1:30 EDT
    assert check("+13125550100", utc(2026, 11, 1, 5, 45), queue=queue).allowed
    # 1:00 EST, the second time round: open again at 1:30 EST.
    assert check("+13125550100", utc(2026, 11, 1, 6, 0), queue=queue).next_allowed_at == utc(
        2026, 11, 1, 6, 30
    )


def test_calling_and_queue_hours_are_solved_together_across_a_transition(only) -> None:
    only("calling_hours", "queue_hours")
    queue = open_queue(timezone="UTC", opening_hours=["mon-sun 13:00-13:30"])
    result = check("+13125550100", utc(2026, 3, 7, 12, 0), queue=queue)
    by_rule = {v.rule: v.next_allowed_at for v in result.violations}
    assert by_rule == {
        CALLING_HOURS: utc(2026, 3, 7, 14, 0),  # 8:00 CST
        QUEUE_HOURS: utc(2026, 3, 7, 13, 0),
    }
    # Only on Sunday, after the switch to CDT, does 8:00 in Chicago fall in 13:00-13:30 UTC.
    assert result.next_allowed_at == utc(2026, 3, 8, 13, 0)


def test_override_moves_calling_hours_to_overridden() -> None:
    result = check("+13125550100", utc(2026, 6, 16, 3, 0), override=True)
    assert result.allowed
    assert [v.rule for v in result.overridden] == [CALLING_HOURS]
    assert result.next_allowed_at == utc(2026, 6, 16, 3, 0)
