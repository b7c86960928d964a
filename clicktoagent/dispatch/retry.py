"""When to try again: one backoff schedule, whether the task backend can defer,
queueing a try so that a failure to queue loses nothing, and the reconcilers' way to
take a row that no task will try.

Shared by the dispatch of call attempts, the webhook callbacks and the CRM write-back.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from django.db.models import Model, Q

from ..conf import app_settings
from ..taskcompat import task_backends


def backoff(tries: int, *, first: float, most: float, retry_after: float | None = None) -> float:
    """Seconds to wait before try ``tries + 1``: the other side's ``Retry-After`` when it
    gave one (capped at ``most``), else ``first`` doubled per try, capped, with jitter."""
    if retry_after is not None:
        return min(float(retry_after), most)
    capped = min(first * (2 ** (tries - 1)), most)
    # Jitter spreads retries of many workers over time.
    return float(capped * random.uniform(0.5, 1.0))  # noqa: S311


def backend_can_defer() -> bool:
    """Whether the dispatch task backend runs a task later (RQ) or only now (immediate)."""
    return bool(task_backends[app_settings.TASK_BACKEND].supports_defer)


def task_enqueue(
    task: Any,
    *,
    what: str,
    logger: logging.Logger,
    run_after: datetime | None = None,
    extra: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Queue ``task`` on the configured backend and queue. A failure to queue is logged
    and leaves the row ``pending``: ``clicktoagent_reconcile`` queues ``what`` again."""
    queued = task.using(
        backend=app_settings.TASK_BACKEND,
        queue_name=app_settings.TASK_QUEUE_NAME,
        run_after=run_after,
    )
    enqueue_or_leave_pending(
        lambda: queued.enqueue(**kwargs), what=what, logger=logger, extra=extra
    )


def enqueue_or_leave_pending(
    enqueue: Callable[[], object],
    *,
    what: str,
    logger: logging.Logger,
    extra: dict[str, Any] | None = None,
) -> None:
    """Run ``enqueue``; a failure to queue is logged and leaves the row ``pending`` for
    ``clicktoagent_reconcile``."""
    try:
        enqueue()
    except Exception as err:
        logger.warning(
            "could not queue %s (%s); it stays pending for the reconciler",
            what,
            type(err).__name__,
            extra=extra,
        )


def rows_won(model: type[Model], where: Q, *, limit: int, **changes: Any) -> Iterator[int]:
    """The pks, lowest first, of up to ``limit`` rows of ``model`` matching ``where`` that
    this caller wins: each is given ``changes`` by one UPDATE conditional on ``where``,
    so of several reconcilers running at once exactly one wins each row."""
    rows = model._default_manager.filter(where)
    for pk in rows.order_by("pk").values_list("pk", flat=True)[:limit]:
        if model._default_manager.filter(where, pk=pk).update(**changes):
            yield pk
