"""Dashboard: attempts per day by outcome and success rate per agent."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt
from clicktoagent.selectors import agent_success_rates, call_attempt_daily_counts
from clicktoagent.services import call_attempt_create

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/admin/clicktoagent/callattempt/dashboard/"
Status = CallAttempt.Status


def make(phone: str, agent_id: str = "98765", days_ago: int = 0) -> CallAttempt:
    attempt = call_attempt_create(
        queue_id="12345", agent_id=agent_id, phone_to_call=phone, source="command"
    )
    if days_ago:
        # Test setup only: move the attempt back in time.
        CallAttempt.objects.filter(pk=attempt.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago)
        )
    attempt.refresh_from_db()
    return attempt


@pytest.fixture
def history(sandbox: SandboxServer, demo_data) -> None:
    make("3125550123")  # placed today, Dana
    make("3125550124")  # placed today, Dana
    make("3125550168")  # unknown today, Dana
    make("3125550125", agent_id="98766", days_ago=2)  # placed, Sam
    sandbox.set_agent_mode("98766", "Closed")
    make("3125550126", agent_id="98766", days_ago=2)  # failed, Sam
    make("3125550127", days_ago=40)  # outside the default period
    assert list(CallAttempt.objects.values_list("status", flat=True)).count("placed") == 4


def test_selectors_count_per_day_and_rate_per_agent(history) -> None:
    today = timezone.localdate()
    days = call_attempt_daily_counts(start=today - timedelta(days=13), end=today)
    assert len(days) == 14 and days[-1].day == today
    assert days[-1].counts[Status.PLACED] == 2 and days[-1].counts[Status.UNKNOWN] == 1
    two_days_ago = days[-3]
    assert two_days_ago.counts[Status.PLACED] == 1 and two_days_ago.counts[Status.FAILED] == 1
    assert sum(day.total for day in days) == 5
    rates = {r.agent.agent_id: r for r in agent_success_rates(start=days[0].day, end=today)}
    assert rates["98765"].placed == 2 and rates["98765"].unknown == 1
    assert rates["98765"].success_rate == pytest.approx(2 / 3)
    assert rates["98766"].success_rate == pytest.approx(1 / 2)
    assert "98767" not in rates


def test_dashboard_page_shows_the_numbers_and_svg_charts(caller_client: Client, history) -> None:
    response = caller_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-total="5"' in html
    assert re.search(r'<tr data-agent="98765">.*?<td class="rate">67%</td>', html, re.S)
    assert re.search(r'<tr data-agent="98766">.*?<td class="rate">50%</td>', html, re.S)
    today = timezone.localdate().isoformat()
    assert re.search(
        rf'<tr data-day="{today}"><td>{today}</td><td>2</td><td>0</td><td>1</td><td>3</td></tr>',
        html,
    )
    assert '<svg class="clicktoagent-chart" id="clicktoagent-daily-chart"' in html
    assert html.count('class="bar-placed"') == 2  # two days with placed calls
    assert 'class="bar-rate"' in html
    # Nothing is loaded from another site.
    assert not re.search(r'(src|href)="https?://', html)


def test_dashboard_period_can_be_chosen_and_is_checked(caller_client: Client, history) -> None:
    today = timezone.localdate()
    start = (today - timedelta(days=45)).isoformat()
    html = caller_client.get(URL, {"start": start, "end": today.isoformat()}).content.decode()
    assert 'data-total="6"' in html
    bad = caller_client.get(URL, {"start": today.isoformat(), "end": start}).content.decode()
    assert "The end date is before the start date." in bad
    too_long = caller_client.get(URL, {"start": "2020-01-01", "end": today.isoformat()})
    assert "at most 366 days" in too_long.content.decode()


@pytest.mark.parametrize(
    ("start", "end"),
    [("9999-12-01", "9999-12-31"), ("0001-01-01", "0001-01-31"), ("1969-12-01", "1970-01-05")],
)
def test_dashboard_dates_out_of_range_are_a_400_with_the_reason(
    caller_client: Client, history, start: str, end: str
) -> None:
    response = caller_client.get(URL, {"start": start, "end": end})
    assert response.status_code == 400
    assert "between 1970-01-01 and 9998-12-31" in response.content.decode()


def test_an_invalid_period_is_a_400(caller_client: Client, history) -> None:
    response = caller_client.get(URL, {"start": "2025-02-10", "end": "2025-02-01"})
    assert response.status_code == 400
    assert "The end date is before the start date." in response.content.decode()
    assert caller_client.get(URL, {"start": "soon", "end": "later"}).status_code == 400


def test_attempt_list_date_hierarchy_in_year_9999_is_not_a_500(
    caller_client: Client, history
) -> None:
    url = "/admin/clicktoagent/callattempt/"
    for query in ("created_at__year=9999", "created_at__year=99999999999999999999"):
        response = caller_client.get(f"{url}?{query}")
        # Django's answer to a bad list filter: back to the list with ?e=1.
        assert response.status_code == 302 and response["Location"].endswith("?e=1")


def test_dashboard_needs_view_permission(db, demo_data) -> None:
    from django.contrib.auth.models import User

    user = User.objects.create_user("nobody", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get(URL).status_code == 403
