"""Reads of call attempts, and who may see and act on which."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Model, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from ..models import (
    CHANGE_CALL_ATTEMPT_PERMISSION,
    PLACE_CALL_PERMISSION,
    VIEW_CALL_ATTEMPT_PERMISSION,
    Agent,
    CallAttempt,
)


def call_attempt_list(
    *,
    status: str | None = None,
    agent_id: str | None = None,
    queue_id: str | None = None,
    phone_to_call: str | None = None,
    contact_ref: str | None = None,
    source: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[CallAttempt]:
    """Attempts, newest first, with queue, agent and requester loaded in the same query."""
    qs = CallAttempt.objects.select_related("queue", "agent", "requested_by", "retry_of")
    lookups = {
        "status": status,
        "agent__agent_id": agent_id,
        "queue__queue_id": queue_id,
        "phone_to_call": phone_to_call,
        "contact_ref": contact_ref,
        "source": source,
        "created_at__gte": created_after,
        "created_at__lt": created_before,
    }
    # A filter left empty (None or "") does not filter.
    qs = qs.filter(**{lookup: value for lookup, value in lookups.items() if value})
    return qs.order_by("-created_at", "-id")


def call_attempt_list_for_contact(*, contact: Model) -> QuerySet[CallAttempt]:
    """A local contact's attempts, newest first."""
    content_type = ContentType.objects.get_for_model(contact)
    return call_attempt_list().filter(content_type=content_type, object_id=str(contact.pk))


# -- who may see and act on which attempts: the one rule the API, the admin and the
# -- call button all apply.


def call_attempt_visible_to_all(*, user: Any) -> bool:
    """True when ``user`` sees every attempt (``view_callattempt`` or ``change_callattempt``)."""
    if getattr(user, "pk", None) is None:
        return False
    return bool(
        user.has_perm(VIEW_CALL_ATTEMPT_PERMISSION) or user.has_perm(CHANGE_CALL_ATTEMPT_PERMISSION)
    )


def call_attempt_visible_to(
    *, user: Any, attempts: QuerySet[CallAttempt] | None = None
) -> QuerySet[CallAttempt]:
    """The attempts (of ``attempts``, default all) that ``user`` may see.

    ``view_callattempt`` or ``change_callattempt``: all of them. ``place_call`` alone:
    only those the user requested. Anyone else: none.
    """
    qs = attempts if attempts is not None else call_attempt_list()
    if call_attempt_visible_to_all(user=user):
        return qs
    if getattr(user, "pk", None) is not None and user.has_perm(PLACE_CALL_PERMISSION):
        return qs.filter(requested_by_id=user.pk)
    return qs.none()


def call_attempt_can_act(*, user: Any, attempt: CallAttempt) -> bool:
    """True when ``user`` may retry or cancel ``attempt``: ``place_call``, and the
    attempt is the user's own or the user has ``change_callattempt``."""
    if getattr(user, "pk", None) is None or not user.has_perm(PLACE_CALL_PERMISSION):
        return False
    return bool(attempt.requested_by_id == user.pk or user.has_perm(CHANGE_CALL_ATTEMPT_PERMISSION))


CANNOT_ACT_MESSAGE = (
    "You can retry and cancel only the call attempts you requested; acting on other "
    "users' attempts needs the clicktoagent.change_callattempt permission."
)


OUTCOME_STATUSES = (
    CallAttempt.Status.PLACED,
    CallAttempt.Status.FAILED,
    CallAttempt.Status.UNKNOWN,
)


@dataclass(frozen=True)
class DailyAttemptCounts:
    """Attempts created on one day, by status."""

    day: date
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class AgentSuccessRate:
    """An agent's finished attempts in a period: placed / (placed + failed + unknown)."""

    agent: Agent
    placed: int
    failed: int
    unknown: int

    @property
    def finished(self) -> int:
        return self.placed + self.failed + self.unknown

    @property
    def success_rate(self) -> float | None:
        return self.placed / self.finished if self.finished else None


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    after = datetime.combine(start, time.min, tzinfo=tz)
    before = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    return after, before


def _created_in(
    attempts: QuerySet[CallAttempt] | None, start: date, end: date
) -> QuerySet[CallAttempt]:
    """``attempts`` (default all) created from ``start`` to ``end`` inclusive."""
    after, before = _day_bounds(start, end)
    base = attempts if attempts is not None else CallAttempt.objects.all()
    return base.filter(created_at__gte=after, created_at__lt=before)


def _status_counts(attempts: QuerySet[CallAttempt], by: str) -> dict[Any, dict[str, int]]:
    """How many of ``attempts`` have each status, per value of the field ``by``."""
    rows = attempts.values(by, "status").annotate(n=Count("id")).order_by()
    counts: dict[Any, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row[by], {})[row["status"]] = row["n"]
    return counts


def call_attempt_daily_counts(
    *, start: date, end: date, attempts: QuerySet[CallAttempt] | None = None
) -> list[DailyAttemptCounts]:
    """Attempts (of ``attempts``, default all) per day (in the current time zone) and
    status, every day from start to end inclusive, days without attempts included with
    zero counts."""
    by_day = _status_counts(
        _created_in(attempts, start, end).annotate(
            day=TruncDate("created_at", tzinfo=timezone.get_current_timezone())
        ),
        by="day",
    )
    days = []
    day = start
    while day <= end:
        counts = {status: 0 for status in CallAttempt.Status.values}
        counts.update(by_day.get(day, {}))
        days.append(DailyAttemptCounts(day=day, counts=counts))
        day += timedelta(days=1)
    return days


def agent_success_rates(
    *, start: date, end: date, attempts: QuerySet[CallAttempt] | None = None
) -> list[AgentSuccessRate]:
    """Per agent with finished attempts (of ``attempts``, default all) created in the
    period, best success rate first."""
    by_agent = _status_counts(
        _created_in(attempts, start, end).filter(status__in=OUTCOME_STATUSES), by="agent_id"
    )
    agents = Agent.objects.filter(pk__in=by_agent).order_by("name", "agent_id")
    rates = [
        AgentSuccessRate(
            agent=agent,
            placed=by_agent[agent.pk].get(CallAttempt.Status.PLACED, 0),
            failed=by_agent[agent.pk].get(CallAttempt.Status.FAILED, 0),
            unknown=by_agent[agent.pk].get(CallAttempt.Status.UNKNOWN, 0),
        )
        for agent in agents
    ]
    return sorted(rates, key=lambda r: -(r.success_rate or 0.0))
