"""Records and PrefetchedRecords: what the rules read, asked one number at a time or for
many at once, gives the same answers."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clicktoagent.models import Agent, CallAttempt, DoNotCallEntry, Queue
from clicktoagent.policy.records import PrefetchedRecords, Records
from clicktoagent.policy.regions import place, stored_forms

from .test_rules import NOON_CHICAGO, attempts

pytestmark = pytest.mark.django_db
Status = CallAttempt.Status
NUMBERS = [f"30555501{i:02}" for i in range(12)]


def forms_of(number: str) -> list[str]:
    return stored_forms(place(number).e164, number)


def test_prefetched_answers_equal_the_databases_with_one_query_each() -> None:
    queue = Queue.objects.create(queue_id="q1")
    agent = Agent.objects.create(agent_id="a1")
    DoNotCallEntry.objects.create(phone_number="+13055550101", reason="asked")
    DoNotCallEntry.objects.create(phone_number="+13055550104", reason="")
    hour = timedelta(hours=1)
    attempts(queue, agent, NUMBERS[2], (hour, Status.PLACED), (2 * hour, Status.UNKNOWN))
    attempts(queue, agent, NUMBERS[3], (hour, Status.FAILED), (25 * hour, Status.PLACED))
    attempts(queue, agent, "+13055550105", (3 * hour, Status.PENDING))  # stored in E.164
    attempts(queue, agent, NUMBERS[6], (-hour, Status.PLACED))  # after the moment

    with CaptureQueriesContext(connection) as reads:
        prefetched = PrefetchedRecords(
            e164s=[place(n).e164 for n in NUMBERS],
            forms=[f for n in NUMBERS for f in forms_of(n)],
            moment=NOON_CHICAGO,
        )
        answers = [
            (prefetched.listed(place(n).e164), prefetched.recent(forms_of(n), NOON_CHICAGO))
            for n in NUMBERS
        ]
    assert len(reads.captured_queries) == 2
    database = Records()
    expected = [
        (database.listed(place(n).e164), database.recent(forms_of(n), NOON_CHICAGO))
        for n in NUMBERS
    ]
    assert answers == expected
    assert [bool(times) for _, times in answers] == [n in (NUMBERS[2], NUMBERS[5]) for n in NUMBERS]
    assert answers[1][0] == "asked" and answers[4][0] == ""
    assert len(answers[2][1]) == 2 and answers[2][1][0] > answers[2][1][1]  # newest first


def test_questions_outside_the_prefetch_go_to_the_database() -> None:
    queue = Queue.objects.create(queue_id="q1")
    agent = Agent.objects.create(agent_id="a1")
    (made,) = attempts(queue, agent, NUMBERS[0], (timedelta(hours=1), Status.PLACED))
    DoNotCallEntry.objects.create(phone_number="+13055550199")
    prefetched = PrefetchedRecords(
        e164s=[place(NUMBERS[0]).e164], forms=forms_of(NUMBERS[0]), moment=NOON_CHICAGO
    )
    with CaptureQueriesContext(connection) as reads:
        assert prefetched.listed("+13055550199") == ""  # not prefetched
        assert (
            prefetched.recent(forms_of(NUMBERS[0]), NOON_CHICAGO, exclude_attempt_id=made.pk) == []
        )
        assert (
            len(prefetched.recent(forms_of(NUMBERS[0]), NOON_CHICAGO + timedelta(seconds=1))) == 1
        )
        assert prefetched.recent(forms_of("3055550150"), NOON_CHICAGO) == []
    assert len(reads.captured_queries) == 4


def test_the_day_counted_is_after_a_day_ago_up_to_the_moment_itself() -> None:
    queue = Queue.objects.create(queue_id="q1")
    agent = Agent.objects.create(agent_id="a1")
    day, tick = timedelta(hours=24), timedelta(microseconds=1)
    made = attempts(
        queue,
        agent,
        NUMBERS[0],
        (day, Status.PLACED),  # exactly a day before: not counted
        (day - tick, Status.PLACED),
        (timedelta(0), Status.DISPATCHING),  # at the moment itself
        (-tick, Status.PLACED),  # after it
        (timedelta(hours=1), Status.CANCELLED),  # never rang
    )
    # The same moment in any time zone.
    for moment in (NOON_CHICAGO, NOON_CHICAGO.astimezone(ZoneInfo("America/Chicago"))):
        found = Records().recent(forms_of(NUMBERS[0]), moment)
        assert found == [NOON_CHICAGO, NOON_CHICAGO - day + tick]
        assert Records().recent([*forms_of(NUMBERS[0]), NUMBERS[0]], moment) == found
        without = Records().recent(forms_of(NUMBERS[0]), moment, exclude_attempt_id=made[2].pk)
        assert without == [NOON_CHICAGO - day + tick]
    assert Records().recent([], NOON_CHICAGO) == []
