"""The one hook into the core: write a finished attempt back to its CRM record.

Every path that finishes an attempt (dispatch, deferred retries, the reconciler) sends
``call_attempt_finished`` once the outcome is committed; this receiver only hands over
to the write-back service.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from ..models import CallAttempt
from ..signals import call_attempt_finished

logger = logging.getLogger("clicktoagent.crm")


@receiver(call_attempt_finished, dispatch_uid="clicktoagent.crm.writeback")
def schedule_crm_writeback(sender: Any, attempt: CallAttempt, **kwargs: Any) -> None:
    from .services import crm_writeback_schedule

    try:
        crm_writeback_schedule(attempt=attempt)
    except Exception:
        # The call is placed and recorded; a write-back problem must not undo or hide that.
        logger.exception("could not schedule the CRM write-back of call attempt %s", attempt.pk)
