"""How an attempt ended, recorded once: the row, the copy onto the contact
(``CONTACT_FIELDS``) and the ``call_attempt_finished`` signal once it is committed.

Every path that finishes an attempt comes here: an answer, a request never sent, the
reconciler giving up on a lost worker.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import DatabaseError, router, transaction
from django.db.models import Q
from django.utils import timezone

from ..conf import app_settings
from ..models import CallAttempt
from ..signals import call_attempt_finished
from .claim import ANSWERABLE, call_attempt_update_answerable

logger = logging.getLogger("clicktoagent")

# The attempt's values that CONTACT_FIELDS may copy onto the contact.
OUTCOME_NAMES = ("sid", "result", "result_description", "status", "finished_at")


def call_attempt_finish(
    attempt: CallAttempt,
    *,
    where: Q,
    status: str,
    finished_at: datetime | None = None,
    **values: Any,
) -> bool:
    """Finish ``attempt`` with ``status`` and ``values`` if it still matches ``where``.

    One conditional UPDATE, so of two paths racing to finish it only one does; that one
    copies the outcome onto the contact in the same transaction and sends the signal
    once it commits. ``attempt`` holds the row's values afterwards. Returns whether it
    finished.
    """
    fields = {"status": status, "finished_at": finished_at or timezone.now(), **values}
    with transaction.atomic() if _copies_to_contact(attempt) else nullcontext():
        if where is ANSWERABLE:
            updated = call_attempt_update_answerable(
                attempt.pk,
                {"next_try_at": None, **fields},
                using=router.db_for_write(CallAttempt, instance=attempt),
            )
        else:
            updated = CallAttempt.objects.filter(where, pk=attempt.pk).update(
                next_try_at=None, **fields
            )
        if updated:
            # The row now holds exactly these values: no need to read it again.
            for name, value in {"next_try_at": None, **fields}.items():
                setattr(attempt, name, value)
            _copy_outcome_to_contact(attempt)
            transaction.on_commit(lambda: _send_finished(attempt))
        else:
            attempt.refresh_from_db()
    return bool(updated)


def call_attempt_block(attempt: CallAttempt, *, error: str, **values: Any) -> bool:
    """End a ``pending`` attempt ``blocked``: a safe-calling rule forbids it, so it is
    never sent. Its ``violations`` say which; ``error`` says it in one sentence."""
    blocked = call_attempt_finish(
        attempt,
        where=Q(status=CallAttempt.Status.PENDING),
        status=CallAttempt.Status.BLOCKED,
        error=error,
        **values,
    )
    if blocked:
        logger.info(
            "call attempt %s blocked: %s",
            attempt.pk,
            ", ".join(v.get("rule", "") for v in attempt.violations),
            extra={"attempt_id": attempt.pk, "status": attempt.status},
        )
    return blocked


def _copies_to_contact(attempt: CallAttempt) -> bool:
    """Whether finishing ``attempt`` also writes its contact (then in one transaction)."""
    return bool(app_settings.CONTACT_FIELDS and attempt.content_type_id and attempt.object_id)


def _copy_outcome_to_contact(attempt: CallAttempt) -> None:
    fields: dict[str, str] = app_settings.CONTACT_FIELDS
    if not _copies_to_contact(attempt) or attempt.content_type is None:
        return
    model = attempt.content_type.model_class()
    if model is None:
        return
    values: dict[str, Any] = {}
    for outcome, field_name in fields.items():
        if outcome not in OUTCOME_NAMES:
            continue
        try:
            model._meta.get_field(field_name)
        except FieldDoesNotExist:
            logger.warning(
                "CONTACT_FIELDS maps %s to %s, which %s does not have",
                outcome,
                field_name,
                model._meta.label,
            )
            continue
        values[field_name] = getattr(attempt, outcome)
    if not values:
        return
    try:
        # A savepoint: a contact that cannot take the values never rolls back the outcome.
        with transaction.atomic():
            model._default_manager.filter(pk=attempt.object_id).update(**values)
    except (DatabaseError, ValueError, TypeError, ValidationError) as err:
        logger.error(
            "could not copy the outcome of call attempt %s onto %s %s (%s); check "
            "CLICKTOAGENT['CONTACT_FIELDS']",
            attempt.pk,
            model._meta.label,
            attempt.object_id,
            type(err).__name__,
            extra={"attempt_id": attempt.pk},
        )


def _send_finished(attempt: CallAttempt) -> None:
    """Tell the host project; a failing receiver is logged, never undoes the outcome."""
    for receiver, response in call_attempt_finished.send_robust(
        sender=CallAttempt, attempt=attempt
    ):
        if isinstance(response, Exception):
            logger.error(
                "call_attempt_finished receiver %s failed for call attempt %s (%s)",
                getattr(receiver, "__qualname__", receiver),
                attempt.pk,
                type(response).__name__,
                extra={"attempt_id": attempt.pk},
            )
