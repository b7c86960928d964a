"""Django admin for the app, and the mixin for a host project's contact admin."""

from .models_admin import AgentAdmin, CallAttemptAdmin, QueueAdmin
from .webhooks import *  # noqa: F403  (registers the webhook admin)

__all__ = ["AgentAdmin", "CallAttemptAdmin", "QueueAdmin"]
