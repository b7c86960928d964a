"""HubSpot workflow webhooks ("Send a webhook" action), signed with the app's client secret.

Signature v3 (``X-HubSpot-Signature-v3``): base64 HMAC-SHA256, keyed with the client
secret, over ``method + uri + body + X-HubSpot-Request-Timestamp``; the timestamp is in
milliseconds and may be at most five minutes away from now. ``uri`` is the full URL
HubSpot called, with the percent-escapes HubSpot lists decoded. The older v1/v2
signatures (``X-HubSpot-Signature`` with ``X-HubSpot-Signature-Version``) carry no
timestamp and are accepted only with ``HUBSPOT_ALLOW_LEGACY_SIGNATURES``.

HubSpot sends no delivery id: the same body delivered again within
``HUBSPOT_DEDUPE_WINDOW`` seconds is a duplicate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from django.core.checks import CheckMessage
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from ..conf import app_settings, register_settings
from ..models import WebhookEvent, WebhookProvider
from .base import WebhookView
from .checks import provider_check, unset_warning
from .parsing import (
    UnusableDeliveryError,
    WebhookAuthenticationError,
    WebhookCall,
    WebhookParser,
    as_text,
    load_json,
    register_parser,
)

register_settings(
    {
        "HUBSPOT_CLIENT_SECRET": "",  # the HubSpot app's client secret
        # Also accept the replayable v1/v2 signatures (no timestamp).
        "HUBSPOT_ALLOW_LEGACY_SIGNATURES": False,
        # Properties holding the number, the owner and the record id.
        "HUBSPOT_PHONE_PROPERTY": "phone",
        "HUBSPOT_OWNER_PROPERTY": "hubspot_owner_id",
        "HUBSPOT_OBJECT_ID_PROPERTY": "hs_object_id",
        # Seconds within which an identical body is a duplicate.
        "HUBSPOT_DEDUPE_WINDOW": 600,
    },
    secrets=frozenset({"HUBSPOT_CLIENT_SECRET"}),
)

MAX_TIMESTAMP_SKEW_MS = 5 * 60 * 1000

# The escapes HubSpot decodes before signing the URI (its request-validation docs).
URI_DECODINGS = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def hubspot_uri(uri: str) -> str:
    """``uri`` with the escapes HubSpot decodes decoded (either hex case), the rest kept."""
    out: list[str] = []
    i = 0
    while i < len(uri):
        chunk = uri[i : i + 3].upper()
        if uri[i] == "%" and chunk in URI_DECODINGS:
            out.append(URI_DECODINGS[chunk])
            i += 3
        else:
            out.append(uri[i])
            i += 1
    return "".join(out)


@sensitive_variables("secret")
def signature_v3(*, secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.encode() + hubspot_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@sensitive_variables("secret")
def signature_v1(*, secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


@sensitive_variables("secret")
def signature_v2(*, secret: str, method: str, uri: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + method.encode() + uri.encode() + body).hexdigest()


@register_parser
class HubSpotParser(WebhookParser):
    provider = WebhookProvider.HUBSPOT

    def dedupe_window(self) -> float | None:
        return float(app_settings.HUBSPOT_DEDUPE_WINDOW)

    def calls(self, *, event: WebhookEvent) -> list[WebhookCall]:
        data = load_json(event.body)
        if not isinstance(data, dict):
            raise UnusableDeliveryError("The body must be a JSON object (the enrolled record).")
        phone_name = str(app_settings.HUBSPOT_PHONE_PROPERTY)
        phone = _property(data, phone_name)
        if not phone:
            raise UnusableDeliveryError(f"The record has no {phone_name!r} property to call.")
        object_id = (
            _property(data, str(app_settings.HUBSPOT_OBJECT_ID_PROPERTY))
            or as_text(data.get("objectId"))
            or as_text(data.get("vid"))
        )
        return [
            WebhookCall(
                phone_to_call=phone,
                owner_id=_property(data, str(app_settings.HUBSPOT_OWNER_PROPERTY)),
                contact_ref=f"hubspot:contact:{object_id}" if object_id else "",
            )
        ]


def _property(data: dict[str, Any], name: str) -> str:
    """A property given flat (``{"phone": ...}``) or the classic way
    (``{"properties": {"phone": {"value": ...}}}``)."""
    flat = as_text(data.get(name))
    if flat:
        return flat
    properties = data.get("properties")
    if isinstance(properties, dict):
        value = properties.get(name)
        if isinstance(value, dict):
            return as_text(value.get("value"))
        return as_text(value)
    return ""


class HubSpotWebhookView(WebhookView):
    provider = WebhookProvider.HUBSPOT
    safe_headers = ("X-HubSpot-Request-Timestamp", "X-HubSpot-Signature-Version")

    def is_configured(self) -> bool:
        return bool(app_settings.HUBSPOT_CLIENT_SECRET)

    @sensitive_variables("secret")
    def authenticate(self, request: HttpRequest, body: bytes) -> None:
        secret = str(app_settings.HUBSPOT_CLIENT_SECRET)
        method = request.method or "POST"
        uri = request.build_absolute_uri()
        signature = request.headers.get("X-HubSpot-Signature-v3", "")
        if signature:
            timestamp = request.headers.get("X-HubSpot-Request-Timestamp", "")
            try:
                sent_ms = int(timestamp)
            except ValueError:
                raise WebhookAuthenticationError(
                    "X-HubSpot-Request-Timestamp is missing or not a number."
                ) from None
            if abs(time.time() * 1000 - sent_ms) > MAX_TIMESTAMP_SKEW_MS:
                raise WebhookAuthenticationError(
                    "X-HubSpot-Request-Timestamp is more than five minutes from now."
                )
            expected = signature_v3(
                secret=secret, method=method, uri=uri, body=body, timestamp=timestamp
            )
            if not hmac.compare_digest(expected.encode(), signature.encode()):
                raise WebhookAuthenticationError(
                    "X-HubSpot-Signature-v3 does not match (check HUBSPOT_CLIENT_SECRET, and "
                    "that a proxy passes the original Host and scheme)."
                )
            return
        legacy = request.headers.get("X-HubSpot-Signature", "")
        if not legacy:
            raise WebhookAuthenticationError("No X-HubSpot-Signature-v3 header.")
        if not app_settings.HUBSPOT_ALLOW_LEGACY_SIGNATURES:
            raise WebhookAuthenticationError(
                "Only X-HubSpot-Signature-v3 is accepted (legacy v1/v2 signatures are off)."
            )
        version = request.headers.get("X-HubSpot-Signature-Version", "v1").lower()
        if version == "v1":
            expected = signature_v1(secret=secret, body=body)
        elif version == "v2":
            expected = signature_v2(secret=secret, method=method, uri=uri, body=body)
        else:
            raise WebhookAuthenticationError(f"Unknown X-HubSpot-Signature-Version {version!r}.")
        if not hmac.compare_digest(expected.encode(), legacy.strip().lower().encode()):
            raise WebhookAuthenticationError(f"X-HubSpot-Signature ({version}) does not match.")


@provider_check
def check_hubspot_settings() -> list[CheckMessage]:
    if app_settings.HUBSPOT_CLIENT_SECRET:
        return []
    return [
        unset_warning(
            "HubSpot",
            "CLICKTOAGENT['HUBSPOT_CLIENT_SECRET']",
            hint="Set HUBSPOT_CLIENT_SECRET to the HubSpot app's client secret.",
            id="clicktoagent.W102",
        )
    ]
