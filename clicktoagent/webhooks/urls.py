from django.urls import URLPattern, URLResolver, path

from .generic import GenericWebhookView
from .hubspot import HubSpotWebhookView
from .pipedrive import PipedriveWebhookView
from .salesforce import SalesforceWebhookView

urlpatterns: list[URLPattern | URLResolver] = [
    path("generic/", GenericWebhookView.as_view(), name="webhook-generic"),
    path("hubspot/", HubSpotWebhookView.as_view(), name="webhook-hubspot"),
    path("salesforce/", SalesforceWebhookView.as_view(), name="webhook-salesforce"),
    path("pipedrive/", PipedriveWebhookView.as_view(), name="webhook-pipedrive"),
]
