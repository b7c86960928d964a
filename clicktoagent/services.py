"""The app's public services, in one place for host projects (``from
clicktoagent.services import call_attempt_create``).

They live beside what they work on: calls in ``clicktoagent.calls``, agents and queues in
``clicktoagent.directory``, sending in ``clicktoagent.dispatch``. The app's own code
imports them from there.
"""

from .calls.contacts import ContactCallOutcome, contact_call, contact_phone_check, contacts_call
from .calls.request import CallFields, CallRequest
from .calls.services import (
    call_attempt_can_retry,
    call_attempt_cancel,
    call_attempt_create,
    call_attempt_get_or_create,
    call_attempt_retry,
    call_attempt_retry_get_or_create,
)
from .directory import agent_create, agent_update, queue_create, queue_update
from .dispatch.reconcile import ReconcileReport, call_attempt_reconcile
from .dispatch.tasks import call_attempt_dispatch, call_attempt_enqueue

__all__ = [
    "CallFields",
    "CallRequest",
    "ContactCallOutcome",
    "ReconcileReport",
    "agent_create",
    "agent_update",
    "call_attempt_can_retry",
    "call_attempt_cancel",
    "call_attempt_create",
    "call_attempt_dispatch",
    "call_attempt_enqueue",
    "call_attempt_get_or_create",
    "call_attempt_reconcile",
    "call_attempt_retry",
    "call_attempt_retry_get_or_create",
    "contact_call",
    "contact_phone_check",
    "contacts_call",
    "queue_create",
    "queue_update",
]
