"""Background work, through Django's Tasks framework (the django-tasks backport)."""

from __future__ import annotations

from django_tasks import task


@task()
def dispatch_call_attempt(attempt_id: int) -> str:
    """Place the call for one attempt; returns the attempt's status afterwards."""
    from .services import call_attempt_dispatch

    return call_attempt_dispatch(attempt_id=attempt_id).status
