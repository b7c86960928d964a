"""The reconciler: repairs what lost tasks and lost workers left behind.

Run by ``manage.py clicktoagent_reconcile``; safe on a schedule and from several machines
at once (every change is a conditional UPDATE).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from ..conf import app_settings
from ..models import CallAttempt
from .outcome import call_attempt_finish
from .retry import rows_won
from .services import dispatching_lost_after
from .tasks import call_attempt_enqueue

logger = logging.getLogger("clicktoagent")

Status = CallAttempt.Status


@dataclass(frozen=True)
class ReconcileReport:
    requeued: list[int]
    marked_unknown: list[int]


def call_attempt_reconcile(
    *,
    pending_after: float | None = None,
    dispatching_after: float | None = None,
    limit: int = 1000,
) -> ReconcileReport:
    """Repair what lost tasks and lost workers left behind; safe to run concurrently.

    - A ``pending`` attempt due (``next_try_at``, else ``created_at``) more than
      ``pending_after`` seconds ago lost its task: it is queued again. The
      conditional UPDATE that moves ``next_try_at`` to now is a lease, so of several
      reconcilers running at once exactly one queues each attempt.
    - A ``dispatching`` attempt claimed more than ``dispatching_after`` seconds ago
      (default :func:`dispatching_lost_after`: the total timeout +
      ``RECONCILE_DISPATCHING_MARGIN``) lost its worker mid-call: it becomes
      ``unknown`` and is never dialled again (a worker never starts sending later than
      the margin after its claim).
    """
    if pending_after is None:
        pending_after = float(app_settings.RECONCILE_PENDING_AFTER)
    if dispatching_after is None:
        dispatching_after = dispatching_lost_after()
    now = timezone.now()
    pending_cutoff = now - timedelta(seconds=pending_after)
    lost_task = Q(status=Status.PENDING) & (
        Q(next_try_at__isnull=True, created_at__lte=pending_cutoff)
        | Q(next_try_at__lte=pending_cutoff)
    )
    requeued: list[int] = []
    for pk in rows_won(CallAttempt, lost_task, limit=limit, next_try_at=now):
        call_attempt_enqueue(attempt_id=pk)
        requeued.append(pk)
        logger.info(
            "call attempt %s queued again by the reconciler",
            pk,
            extra={"attempt_id": pk, "status": Status.PENDING},
        )

    dispatching_cutoff = now - timedelta(seconds=dispatching_after)
    lost_worker = Q(status=Status.DISPATCHING, dispatched_at__lte=dispatching_cutoff)
    marked: list[int] = []
    for pk in (
        CallAttempt.objects.filter(lost_worker).order_by("pk").values_list("pk", flat=True)[:limit]
    ):
        attempt = CallAttempt.objects.get(pk=pk)
        if not call_attempt_finish(
            attempt,
            where=lost_worker,
            status=Status.UNKNOWN,
            finished_at=now,
            error=(
                f"No outcome was recorded within {dispatching_after:g} s of sending "
                "(the worker was lost); the call may have been placed."
            ),
        ):
            continue
        marked.append(pk)
        logger.warning(
            "call attempt %s unknown: its worker was lost mid-call",
            pk,
            extra={"attempt_id": pk, "status": Status.UNKNOWN, "tries": attempt.tries},
        )
    return ReconcileReport(requeued=requeued, marked_unknown=marked)
