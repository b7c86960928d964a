"""Background work of the webhooks, through Django's Tasks framework."""

from __future__ import annotations

from ..taskcompat import task


@task()
def deliver_webhook_callback(event_id: int, attempt_id: int) -> str:
    """POST a finished attempt's outcome to its event's callback URL (signed)."""
    from .services import webhook_callback_deliver

    return webhook_callback_deliver(event_id=event_id, attempt_id=attempt_id)
