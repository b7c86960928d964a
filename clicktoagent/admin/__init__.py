"""Django admin for the app, and the mixin for a host project's contact admin."""

from .mixin import ClickToAgentAdminMixin
from .models_admin import AgentAdmin, CallAttemptAdmin, QueueAdmin
from .webhooks import *  # noqa: F403  (registers the webhook admin)

__all__ = ["AgentAdmin", "CallAttemptAdmin", "ClickToAgentAdminMixin", "QueueAdmin"]
