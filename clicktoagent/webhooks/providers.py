"""The webhook providers: each one's module, loaded with the app (``AppConfig.ready``) so
that its settings, parser, view and checks are registered.

Adding a CRM: its module (see docs/webhooks.md, "Checklist: adding another CRM") and one
line here.
"""

from __future__ import annotations

from .base import WebhookView
from .generic import GenericWebhookView
from .hubspot import HubSpotWebhookView
from .pipedrive import PipedriveWebhookView
from .salesforce import SalesforceWebhookView

VIEWS: tuple[type[WebhookView], ...] = (
    GenericWebhookView,
    HubSpotWebhookView,
    SalesforceWebhookView,
    PipedriveWebhookView,
)
