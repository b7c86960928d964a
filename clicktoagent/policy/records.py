"""What the rules read from the database: a number's do-not-call entry, and the recent
attempts that count towards its daily cap.

:class:`Records` asks for one call (one indexed query each). :class:`PrefetchedRecords`
answers for many numbers at one moment with one query each, for a page that shows the
check of every contact it lists (the admin's call form).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connections, router
from django.db.models import QuerySet

from ..models import CallAttempt, DoNotCallEntry
from ..statements import Statement, column, prep, table

DAY = timedelta(hours=24)
# Attempts that may ring (or did): what the daily cap counts.
RINGING = (
    CallAttempt.Status.PLACED,
    CallAttempt.Status.UNKNOWN,
    CallAttempt.Status.PENDING,
    CallAttempt.Status.DISPATCHING,
)
# Most attempts read for one number's cap: far above any cap worth having.
MOST_RECENT = 500


def _recent(forms: Iterable[str], moment: datetime) -> QuerySet[CallAttempt]:
    return CallAttempt.objects.filter(
        phone_to_call__in=list(forms),
        created_at__gt=moment - DAY,
        created_at__lte=moment,
        status__in=RINGING,
    )


def _listed_statement(using: str) -> str:
    phone = column(using, DoNotCallEntry, "phone_number")
    # Only names from the models' metadata are put in; every value is a parameter.
    return (
        f"SELECT d.{column(using, DoNotCallEntry, 'reason')} "  # noqa: S608
        f"FROM {table(using, DoNotCallEntry)} d WHERE d.{phone} = %s "
        f"{connections[using].ops.limit_offset_sql(0, 1)}"
    )


_LISTED = Statement(_listed_statement, values=((DoNotCallEntry, "d", "reason"),))


@functools.cache
def _recent_statement(forms: int, exclude: bool) -> Statement:
    """The cap's count for a number stored as any of ``forms`` forms, as :func:`_recent`
    filters (and without one attempt when ``exclude``), newest first. One per pair: a
    number is stored in two or three forms."""

    def write(using: str) -> str:
        def col(name: str) -> str:
            return f"a.{column(using, CallAttempt, name)}"

        created = col("created_at")
        marks = ", ".join(["%s"] * forms)
        statuses = ", ".join(["%s"] * len(RINGING))
        without = f" AND {col('id')} <> %s" if exclude else ""
        # Only names from the models' metadata are put in; every value is a parameter.
        return (
            f"SELECT {created} FROM {table(using, CallAttempt)} a "  # noqa: S608
            f"WHERE {col('phone_to_call')} IN ({marks}) AND {created} > %s "
            f"AND {created} <= %s AND {col('status')} IN ({statuses}){without} "
            f"ORDER BY {created} DESC {connections[using].ops.limit_offset_sql(0, MOST_RECENT)}"
        )

    return Statement(write, values=((CallAttempt, "a", "created_at"),))


class Records:
    """The database as the rules read it, one indexed query per question, each a
    statement written once per database (``clicktoagent/statements.py``): they run for
    every call checked."""

    def listed(self, e164: str) -> str | None:
        """The reason ``e164`` is on the do-not-call list (may be ``""``); None if it is not."""
        rows = _LISTED.fetch_values([e164], using=router.db_for_read(DoNotCallEntry))
        return str(rows[0][0]) if rows else None

    def recent(
        self, forms: list[str], moment: datetime, *, exclude_attempt_id: int | None = None
    ) -> list[datetime]:
        """When the attempts to the number (stored as any of ``forms``) that count
        towards its cap were created in the 24 hours up to ``moment``, newest first."""
        forms = sorted(set(forms))
        if not forms:
            return []
        statement = _recent_statement(len(forms), exclude_attempt_id is not None)
        using = router.db_for_read(CallAttempt)
        params = [
            *forms,
            prep(using, CallAttempt, "created_at", moment - DAY),
            prep(using, CallAttempt, "created_at", moment),
            *RINGING,
        ]
        if exclude_attempt_id is not None:
            params.append(exclude_attempt_id)
        rows = statement.fetch_values(params, using=using)
        return [row[0] for row in rows]


class PrefetchedRecords(Records):
    """The answers for the numbers given (E.164, and for the cap every stored form), read
    at once for checks made at ``moment``; any other question goes to the database."""

    def __init__(self, *, e164s: Iterable[str], forms: Iterable[str], moment: datetime) -> None:
        self.moment = moment
        self._numbers = set(e164s)
        self._listed = dict(
            DoNotCallEntry.objects.filter(phone_number__in=self._numbers)
            .order_by()
            .values_list("phone_number", "reason")
        )
        self._forms = set(forms)
        self._created: dict[str, list[datetime]] = defaultdict(list)
        if self._forms:
            rows = _recent(self._forms, moment).values_list("phone_to_call", "created_at")
            for phone, created in rows:
                self._created[phone].append(created)

    def listed(self, e164: str) -> str | None:
        if e164 not in self._numbers:
            return super().listed(e164)
        return self._listed.get(e164)

    def recent(
        self, forms: list[str], moment: datetime, *, exclude_attempt_id: int | None = None
    ) -> list[datetime]:
        known = self._forms.issuperset(forms)
        if moment != self.moment or exclude_attempt_id is not None or not known:
            return super().recent(forms, moment, exclude_attempt_id=exclude_attempt_id)
        found = sorted((t for form in set(forms) for t in self._created[form]), reverse=True)
        return found[:MOST_RECENT]
