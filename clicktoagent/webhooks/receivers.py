"""The one hook into the core: report a finished attempt to the webhook's callback URL.

The core announces finished attempts only through ``call_attempt_finished`` (sent after
the outcome is committed, on every path that finishes an attempt: dispatch, deferred
retries, the reconciler). Wrapping the dispatch task instead would miss the paths that
re-queue the core task, so this receiver only hands over to a webhook service.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from ..models import CallAttempt
from ..signals import call_attempt_finished
from .tasks import webhook_callbacks_schedule

logger = logging.getLogger("clicktoagent.webhooks")


@receiver(call_attempt_finished, dispatch_uid="clicktoagent.webhooks.callbacks")
def schedule_webhook_callbacks(sender: Any, attempt: CallAttempt, **kwargs: Any) -> None:
    if attempt.source != CallAttempt.Source.WEBHOOK:
        return
    try:
        webhook_callbacks_schedule(attempt=attempt)
    except Exception:
        # The call is placed and recorded; a callback problem must not undo or hide that.
        logger.exception("could not queue the webhook callback of call attempt %s", attempt.pk)
