"""Standard Webhooks (https://www.standardwebhooks.com/): any sender that signs its
deliveries with ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``.

Body::

    {"phone_to_call": "3125550123", "queue_id": "12345", "agent_id": "98765",
     "contact_ref": "crm:lead:42", "record": 0, "warning": 1,
     "first_callerid": "", "second_callerid": "",
     "callback_url": "https://crm.example.com/hooks/call-finished",
     "contact_region": "FL", "outside_hours": "schedule"}

Only ``phone_to_call`` is required; ``queue_id`` and ``agent_id`` may come from the
webhook URL's query instead. Deduplicated on ``webhook-id``. ``callback_url`` must be
on a host of ``CALLBACK_ALLOWED_HOSTS`` (see ``outbound.py``).
"""

from __future__ import annotations

import binascii
from typing import Any

from django.core.checks import CheckMessage, Error
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables
from standardwebhooks.webhooks import (
    EmptyWebhookSecretError,
    Webhook,
    WebhookVerificationError,
)

from ..conf import app_settings, register_settings
from ..models import WebhookEvent, WebhookProvider
from .base import WebhookView
from .callback_policy import CallbackURLError, callback_url_check
from .checks import provider_check, unset_warning
from .parsing import (
    UnusableDeliveryError,
    WebhookAuthenticationError,
    WebhookCall,
    WebhookParser,
    as_text,
    clean_delivery_id,
    load_json,
    register_parser,
)

register_settings(
    # Standard Webhooks "whsec_..." secret of the endpoint; also signs its callbacks.
    {"WEBHOOK_SECRET": ""},
    secrets=frozenset({"WEBHOOK_SECRET"}),
)

FIELDS = (
    "phone_to_call",
    "queue_id",
    "agent_id",
    "contact_ref",
    "record",
    "warning",
    "first_callerid",
    "second_callerid",
    "callback_url",
    "contact_region",
    "outside_hours",
)


@sensitive_variables("secret")
def standard_webhook() -> Webhook | None:
    """The verifier for ``WEBHOOK_SECRET``, or None when it is missing or not base64."""
    secret = str(app_settings.WEBHOOK_SECRET or "")
    if not secret:
        return None
    try:
        return Webhook(secret)
    except (binascii.Error, EmptyWebhookSecretError, RuntimeError):
        return None


@register_parser
class GenericParser(WebhookParser):
    provider = WebhookProvider.GENERIC

    def calls(self, *, event: WebhookEvent) -> list[WebhookCall]:
        data = load_json(event.body)
        if not isinstance(data, dict):
            raise UnusableDeliveryError("The body must be a JSON object.")
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise UnusableDeliveryError(
                f"Unknown field(s) {', '.join(unknown)}; accepted: {', '.join(FIELDS)}."
            )
        phone = as_text(data.get("phone_to_call"))
        if not phone:
            raise UnusableDeliveryError("phone_to_call: a phone number is required.")
        callback_url = as_text(data.get("callback_url"))
        if len(callback_url) > 2000:
            raise UnusableDeliveryError("callback_url: at most 2000 characters.")
        if callback_url:
            # Refused before any attempt exists: a delivery is taken whole or not at all.
            try:
                callback_url_check(callback_url)
            except CallbackURLError as err:
                raise UnusableDeliveryError(str(err)) from None
        return [
            WebhookCall(
                phone_to_call=phone,
                queue_id=as_text(data.get("queue_id")),
                agent_id=as_text(data.get("agent_id")),
                contact_ref=as_text(data.get("contact_ref")),
                first_callerid=as_text(data.get("first_callerid")),
                second_callerid=as_text(data.get("second_callerid")),
                record=_optional_int(data, "record"),
                warning=_optional_int(data, "warning"),
                callback_url=callback_url,
                contact_region=as_text(data.get("contact_region")),
                outside_hours=as_text(data.get("outside_hours")),
            )
        ]


def _optional_int(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UnusableDeliveryError(f"{name}: expected a whole number, got {value!r}.")
    try:
        return int(value)
    except ValueError:
        raise UnusableDeliveryError(f"{name}: expected a whole number, got {value!r}.") from None


class GenericWebhookView(WebhookView):
    provider = WebhookProvider.GENERIC
    safe_headers = ("Webhook-Id", "Webhook-Timestamp")

    def is_configured(self) -> bool:
        return standard_webhook() is not None

    def authenticate(self, request: HttpRequest, body: bytes) -> None:
        webhook = standard_webhook()
        if webhook is None:  # pragma: no cover - is_configured() ran first
            raise WebhookAuthenticationError("No webhook secret configured.")
        headers = {
            name: request.headers.get(name, "")
            for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        }
        try:
            webhook.verify(body, headers, json_parse=False)
        except WebhookVerificationError as err:
            raise WebhookAuthenticationError(
                f"Standard Webhooks verification failed: {err}."
            ) from None
        except ValueError:
            # A signature that is not "v1,<base64>", or a body that is not UTF-8.
            raise WebhookAuthenticationError(
                "Standard Webhooks verification failed: unreadable signature or body."
            ) from None

    def delivery_id(self, request: HttpRequest, body: bytes) -> str:
        return clean_delivery_id(request.headers.get("webhook-id"), body=body)


@provider_check
def check_generic_settings() -> list[CheckMessage]:
    if not app_settings.WEBHOOK_SECRET:
        return [
            unset_warning(
                "generic (Standard Webhooks)",
                "CLICKTOAGENT['WEBHOOK_SECRET']",
                hint="Set CLICKTOAGENT_WEBHOOK_SECRET to a whsec_... secret.",
                id="clicktoagent.W101",
            )
        ]
    if standard_webhook() is None:
        return [
            Error(
                "CLICKTOAGENT['WEBHOOK_SECRET'] is not a Standard Webhooks secret "
                "(whsec_ followed by base64).",
                id="clicktoagent.E101",
            )
        ]
    return []
