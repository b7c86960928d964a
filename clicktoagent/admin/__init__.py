"""Django admin for the app, and the mixin for a host project's contact admin.

``directory.py``: queues and agents; ``call_attempts.py``: attempts, retry, cancel and the
dashboard; ``webhooks.py``: received deliveries and CRM user mappings; ``contacts.py``:
``ClickToAgentAdminMixin``, click-to-call on a host's own contact admin; ``donotcall.py``:
the do-not-call list, with CSV import and export.
"""

from .call_attempts import CallAttemptAdmin
from .contacts import ClickToAgentAdminMixin
from .directory import AgentAdmin, QueueAdmin
from .donotcall import DoNotCallEntryAdmin
from .webhooks import CrmUserMappingAdmin, WebhookEventAdmin

__all__ = [
    "AgentAdmin",
    "CallAttemptAdmin",
    "ClickToAgentAdminMixin",
    "CrmUserMappingAdmin",
    "DoNotCallEntryAdmin",
    "QueueAdmin",
    "WebhookEventAdmin",
]
