"""Background work, through Django's Tasks framework (see ``taskcompat``)."""

from __future__ import annotations

from .taskcompat import task


@task()
def dispatch_call_attempt(attempt_id: int) -> str:
    """Place the call for one attempt; returns the attempt's status afterwards."""
    from .services import call_attempt_dispatch

    return call_attempt_dispatch(attempt_id=attempt_id).status
