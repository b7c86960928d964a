"""What the rules read from the database: a number's do-not-call entry, and the recent
attempts that count towards its daily cap.

:class:`Records` asks for one call (one indexed query each). :class:`PrefetchedRecords`
answers for many numbers at one moment with one query each, for a page that shows the
check of every contact it lists (the admin's call form).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import QuerySet

from ..models import CallAttempt, DoNotCallEntry

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


class Records:
    """The database as the rules read it, one query per question."""

    def listed(self, e164: str) -> str | None:
        """The reason ``e164`` is on the do-not-call list (may be ``""``); None if it is not."""
        return (
            DoNotCallEntry.objects.filter(phone_number=e164)
            .order_by()
            .values_list("reason", flat=True)
            .first()
        )

    def recent(
        self, forms: list[str], moment: datetime, *, exclude_attempt_id: int | None = None
    ) -> list[datetime]:
        """When the attempts to the number (stored as any of ``forms``) that count
        towards its cap were created in the 24 hours up to ``moment``, newest first."""
        attempts = _recent(forms, moment)
        if exclude_attempt_id is not None:
            attempts = attempts.exclude(pk=exclude_attempt_id)
        return list(
            attempts.order_by("-created_at").values_list("created_at", flat=True)[:MOST_RECENT]
        )


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
