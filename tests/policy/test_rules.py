"""do_not_call, daily_cap, recording_consent, queue_hours, and how the rules combine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clicktoagent.models import Agent, CallAttempt, DoNotCallEntry, Queue
from clicktoagent.policy.result import (
    CALLING_HOURS,
    DAILY_CAP,
    DO_NOT_CALL,
    QUEUE_HOURS,
    RECORDING_CONSENT,
)

from .conftest import check, open_queue, utc

pytestmark = pytest.mark.safe_calling
NOON_CHICAGO = utc(2026, 6, 16, 17, 0)  # Tuesday 12:00 CDT


@pytest.fixture
def saved_queue(db) -> Queue:
    return Queue.objects.create(queue_id="q-saved", name="Support")


@pytest.fixture
def agent(db) -> Agent:
    return Agent.objects.create(agent_id="a1", name="Dana", phone="3125550101")


def attempts(queue, agent, phone, *ages_and_statuses):
    """Attempts to ``phone`` made ``age`` before NOON_CHICAGO."""
    made = []
    for age, status in ages_and_statuses:
        attempt = CallAttempt.objects.create(
            queue=queue, agent=agent, phone_to_call=phone, record=0, warning=1,
            source="api", status=status,
        )  # fmt: skip
        CallAttempt.objects.filter(pk=attempt.pk).update(created_at=NOON_CHICAGO - age)
        made.append(attempt)
    return made


# -- do_not_call -------------------------------------------------------------------------


def test_do_not_call_is_absolute(db, only) -> None:
    only("do_not_call", "calling_hours")
    DoNotCallEntry.objects.create(phone_number="+13055550100", reason="asked on 2026-05-01")
    result = check("+13055550100", utc(2026, 6, 16, 3, 0), override=True)  # 23:00 in Miami
    assert [v.rule for v in result.violations] == [DO_NOT_CALL]
    assert result.violations[0].message == (
        "+1 305-555-0100 is on the do-not-call list (reason: asked on 2026-05-01); "
        "remove the entry to call it."
    )
    assert result.violations[0].next_allowed_at is None
    assert result.next_allowed_at is None and not result.waits
    assert [v.rule for v in result.overridden] == [CALLING_HOURS]
    # The stored form of the number is looked up as E.164 too.
    assert not check("3055550100", NOON_CHICAGO).allowed
    assert check("+13055550101", NOON_CHICAGO).allowed


def test_do_not_call_is_one_query_however_long_the_list(db, only) -> None:
    only("do_not_call")
    DoNotCallEntry.objects.create(phone_number="+13125550100")
    with CaptureQueriesContext(connection) as small:
        assert not check("+13125550100", NOON_CHICAGO).allowed
    DoNotCallEntry.objects.bulk_create(
        [DoNotCallEntry(phone_number=f"+1{2000000000 + i}") for i in range(100_000)],
        batch_size=5000,
    )
    with CaptureQueriesContext(connection) as large:
        assert not check("+13125550100", NOON_CHICAGO).allowed
        assert check("+13125550199", NOON_CHICAGO).allowed
    assert len(small) == 1
    assert len(large) == 2  # one per check
    sql = large.captured_queries[0]["sql"]
    assert '"phone_number" = ' in sql and "LIMIT 1" in sql
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = " ".join(str(row) for row in cursor.fetchall())
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan


# -- daily_cap ---------------------------------------------------------------------------


def test_florida_allows_three_ringing_attempts_a_day(saved_queue, agent, only) -> None:
    only("daily_cap")
    placed, failed = CallAttempt.Status.PLACED, CallAttempt.Status.FAILED
    made = attempts(
        saved_queue, agent, "3055550100",
        (timedelta(hours=23), placed),
        (timedelta(hours=5), CallAttempt.Status.UNKNOWN),
        (timedelta(hours=2), failed),  # did not ring: not counted
        (timedelta(hours=1), CallAttempt.Status.CANCELLED),
        (timedelta(hours=25), placed),  # outside the 24 hours
    )  # fmt: skip
    assert check("+13055550100", NOON_CHICAGO).allowed  # two so far
    attempts(saved_queue, agent, "3055550100", (timedelta(minutes=10), CallAttempt.Status.PENDING))
    with CaptureQueriesContext(connection) as queries:
        result = check("+13055550100", NOON_CHICAGO)
    assert len(queries) == 1
    (violation,) = result.violations
    assert violation.rule == DAILY_CAP
    expiry = NOON_CHICAGO - timedelta(hours=23) + timedelta(hours=24)
    assert violation.next_allowed_at == result.next_allowed_at == expiry
    assert violation.message.startswith(
        "3 calls to this number in the last 24 hours; Florida allows 3 a day. Next allowed at "
    )
    assert check("+13055550100", expiry).allowed
    assert not check("+13055550100", expiry - timedelta(seconds=1)).allowed
    # The attempt being sent is not counted against itself.
    newest = CallAttempt.objects.filter(status=CallAttempt.Status.PENDING).get()
    assert check("+13055550100", NOON_CHICAGO, exclude_attempt_id=newest.pk).allowed
    assert made  # the fixtures were made
    # override
    overridden = check("+13055550100", NOON_CHICAGO, override=True)
    assert overridden.allowed and [v.rule for v in overridden.overridden] == [DAILY_CAP]


def test_no_cap_no_query(db, only) -> None:
    only("daily_cap")
    with CaptureQueriesContext(connection) as queries:
        assert check("+13125550100", NOON_CHICAGO).allowed  # Illinois has no cap
    assert len(queries) == 0


def test_contact_region_brings_its_cap_and_hours(saved_queue, agent, only) -> None:
    only("daily_cap", "calling_hours")
    three = [(timedelta(hours=h), CallAttempt.Status.PLACED) for h in (1, 2, 3)]
    attempts(saved_queue, agent, "3125550100", *three)
    assert check("+13125550100", NOON_CHICAGO).allowed
    result = check("+13125550100", NOON_CHICAGO, contact_region="FL")
    assert [v.rule for v in result.violations] == [DAILY_CAP]
    # Allowed once the oldest of the three is 24 hours old, and calling hours allow it:
    # 9:00 CDT the next day is inside Florida's 8:00-20:00.
    assert result.next_allowed_at == NOON_CHICAGO - timedelta(hours=3) + timedelta(hours=24)


def test_the_cap_and_calling_hours_are_solved_together(saved_queue, agent, only) -> None:
    only("daily_cap", "calling_hours")
    at = utc(2026, 6, 16, 22, 0)  # 18:00 in Miami
    attempts(saved_queue, agent, "3055550100", *[(timedelta(hours=-5), "placed")] * 3)
    result = check("+13055550100", at)
    # the three were made at 12:00 CDT + 5 h = 22:00 UTC: the cap lifts at 22:00 UTC the
    # next day (18:00 in Miami), which calling hours allow.
    assert result.next_allowed_at == at + timedelta(hours=24)


def test_daily_cap_per_number_setting(saved_queue, agent, only) -> None:
    only("daily_cap", DAILY_CAP_PER_NUMBER=1)
    attempts(saved_queue, agent, "3125550100", (timedelta(hours=1), "placed"))
    result = check("+13125550100", NOON_CHICAGO)
    assert "CLICKTOAGENT['DAILY_CAP_PER_NUMBER'] allows 1 a day" in result.violations[0].message
    only("daily_cap", DAILY_CAP_PER_NUMBER=None)
    assert check("+13125550100", NOON_CHICAGO).allowed


# -- recording_consent ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "region", "needs_warning"),
    [
        ("+14155550100", "", True),  # California
        ("+13055550100", "", True),  # Florida
        ("+12035550100", "", True),  # Connecticut
        ("+15125550100", "", False),  # Texas
        ("+15125550100", "PA", True),  # a Texas number, the contact in Pennsylvania
        ("+18005550100", "", True),  # toll free: state unknown counts as all-party
        ("+14165550100", "", False),  # Ontario
        ("+442079460000", "", False),  # no entry for GB
    ],
)
def test_recording_consent_adjusts(number, region, needs_warning, only) -> None:
    only("recording_consent")
    result = check(number, NOON_CHICAGO, record=1, warning=0, contact_region=region)
    assert result.allowed
    assert result.adjustments == ({"warning": 1} if needs_warning else {})
    for warning in (1, 3):
        assert check(number, NOON_CHICAGO, record=1, warning=warning).adjustments == {}
    assert check(number, NOON_CHICAGO, record=0, warning=0).adjustments == {}


def test_recording_consent_blocks_when_asked_to(only) -> None:
    only("recording_consent", RECORDING_CONSENT="block")
    result = check("+13055550100", NOON_CHICAGO, record=1, warning=2, override=True)
    assert [v.rule for v in result.violations] == [RECORDING_CONSENT]
    assert "Florida" in result.violations[0].message
    assert result.next_allowed_at is None and result.adjustments == {}
    unknown = check("+18005550100", NOON_CHICAGO, record=1, warning=0)
    assert "state unknown" in unknown.violations[0].message


# -- queue_hours -----------------------------------------------------------------------


def test_queue_hours_and_closed_dates(only, settings) -> None:
    only("queue_hours")
    queue = open_queue(
        timezone="America/Chicago",
        opening_hours=["mon-fri 09:00-17:30"],
        closed_dates=["2026-06-17"],
    )
    assert check("+13125550100", NOON_CHICAGO, queue=queue).allowed
    evening = check("+13125550100", utc(2026, 6, 16, 23, 0), queue=queue)  # 18:00 Tuesday
    (violation,) = evening.violations
    assert violation.rule == QUEUE_HOURS
    assert violation.message.startswith(
        "Queue Sales (q1) is closed at 18:00 on Tuesday (America/Chicago); it is open "
        "mon-fri 9:00-17:30."
    )
    # Wednesday is a closed date: Thursday 9:00.
    assert evening.next_allowed_at == utc(2026, 6, 18, 14, 0)
    closed = check("+13125550100", utc(2026, 6, 17, 17, 0), queue=queue)
    assert "closed on 2026-06-17 (a closed date)" in closed.violations[0].message
    # No opening hours: always open, but closed dates still close whole days (site zone).
    settings.TIME_ZONE = "America/Chicago"
    always = open_queue(closed_dates=["2026-06-17"])
    assert check("+13125550100", utc(2026, 6, 17, 4, 59), queue=always).allowed
    result = check("+13125550100", utc(2026, 6, 17, 5, 0), queue=always)
    assert result.next_allowed_at == utc(2026, 6, 18, 5, 0)


def test_a_queue_closed_past_the_horizon_has_no_next_moment(only) -> None:
    only("queue_hours")
    days = [f"2026-07-{day:02d}" for day in range(1, 32)]
    result = check("+13125550100", utc(2026, 7, 1, 17, 0), queue=open_queue(closed_dates=days))
    assert result.next_allowed_at is None and not result.waits
    assert "not open at any time in the next 14 days" in result.violations[0].message


def test_unreadable_queue_hours_block_without_a_moment(only) -> None:
    only("queue_hours")
    queue = open_queue(opening_hours=["weekdays 9-5"])
    result = check("+13125550100", NOON_CHICAGO, queue=queue)
    assert "cannot be read" in result.violations[0].message
    assert result.next_allowed_at is None


# -- rules together --------------------------------------------------------------------


def test_every_violation_is_listed_and_override_keeps_the_absolute_ones(db) -> None:
    queue = open_queue(timezone="America/New_York", opening_hours=["mon-fri 09:00-17:00"])
    DoNotCallEntry.objects.create(phone_number="+13055550100")
    at = utc(2026, 6, 16, 3, 0)  # 23:00 in Miami
    result = check("+13055550100", at, queue=queue, record=1, warning=0)
    assert {v.rule for v in result.violations} == {CALLING_HOURS, DO_NOT_CALL, QUEUE_HOURS}
    assert result.adjustments == {"warning": 1}
    assert result.next_allowed_at is None
    assert result.summary().startswith("It is 23:00 on Monday in Florida")


def test_time_rules_only_wait_for_the_joint_moment(db) -> None:
    queue = open_queue(timezone="America/Los_Angeles", opening_hours=["mon-fri 09:00-17:00"])
    result = check("+13055550100", utc(2026, 6, 16, 11, 0), queue=queue)  # 7:00 Miami, 4:00 LA
    assert {v.rule for v in result.violations} == {CALLING_HOURS, QUEUE_HOURS}
    assert result.waits
    assert result.next_allowed_at == utc(2026, 6, 16, 16, 0)  # 9:00 LA, 12:00 Miami


def test_no_rules_allow_everything(db, only) -> None:
    only()
    DoNotCallEntry.objects.create(phone_number="+13055550100")
    result = check("+13055550100", utc(2026, 6, 16, 3, 0), record=1, warning=0)
    assert result.allowed and result.adjustments == {}


def test_naive_instants_are_refused() -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="aware"):
        check("+13125550100", datetime(2026, 6, 16, 12, 0))
