"""Pipedrive webhooks, v2 (``meta``/``data``/``previous``) and v1 (``meta``/``current``/
``previous``), for person events.

Pipedrive does not sign its webhooks: the webhook is created in Pipedrive with HTTP
basic auth credentials, which must equal ``PIPEDRIVE_WEBHOOK_USER`` and
``PIPEDRIVE_WEBHOOK_PASSWORD``. Which actions place a call is
``PIPEDRIVE_DIAL_ACTIONS`` (v2 names; v1's ``added``/``updated``/``deleted``/``merged``
count as ``create``/``change``/``delete``/``merge``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from django.core.checks import CheckMessage
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.debug import sensitive_variables

from ..conf import app_settings, register_settings
from ..models import WebhookEvent, WebhookProvider
from .base import WebhookView
from .checks import provider_check, unset_warning
from .parsing import (
    IgnoredDeliveryError,
    UnusableDeliveryError,
    WebhookAuthenticationError,
    WebhookCall,
    WebhookParser,
    as_text,
    clean_delivery_id,
    decode_body,
    load_json,
    register_parser,
)

register_settings(
    {
        # The basic auth credentials set on the Pipedrive webhook.
        "PIPEDRIVE_WEBHOOK_USER": "",
        "PIPEDRIVE_WEBHOOK_PASSWORD": "",
        # Actions that place a call (v2 names: create, change, delete, merge).
        "PIPEDRIVE_DIAL_ACTIONS": ("create",),
    },
    secrets=frozenset({"PIPEDRIVE_WEBHOOK_PASSWORD"}),
)

REALM = "clicktoagent webhooks"
V1_ACTIONS = {"added": "create", "updated": "change", "deleted": "delete", "merged": "merge"}


@register_parser
class PipedriveParser(WebhookParser):
    provider = WebhookProvider.PIPEDRIVE

    def calls(self, *, event: WebhookEvent) -> list[WebhookCall]:
        payload = load_json(event.body)
        if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
            raise UnusableDeliveryError("The body is not a Pipedrive webhook (no 'meta' object).")
        meta: dict[str, Any] = payload["meta"]
        if "entity" in meta or "data" in payload:  # v2
            entity = as_text(meta.get("entity"))
            action = as_text(meta.get("action"))
            person = payload.get("data")
        else:  # v1
            entity = as_text(meta.get("object"))
            action = V1_ACTIONS.get(as_text(meta.get("action")), as_text(meta.get("action")))
            person = payload.get("current")
        if entity != "person":
            raise IgnoredDeliveryError(f"Only person events place calls (this is {entity!r}).")
        dial_actions = tuple(app_settings.PIPEDRIVE_DIAL_ACTIONS)
        if action not in dial_actions:
            raise IgnoredDeliveryError(
                f"Action {action!r} does not place calls (PIPEDRIVE_DIAL_ACTIONS: "
                f"{', '.join(dial_actions) or 'none'})."
            )
        if not isinstance(person, dict):
            raise UnusableDeliveryError("The event carries no person.")
        phone = primary_phone(person)
        if not phone:
            raise UnusableDeliveryError("The person has no phone number.")
        person_id = as_text(person.get("id")) or as_text(meta.get("entity_id") or meta.get("id"))
        return [
            WebhookCall(
                phone_to_call=phone,
                owner_id=owner_id(person.get("owner_id")),
                contact_ref=f"pipedrive:person:{person_id}" if person_id else "",
            )
        ]


def primary_phone(person: dict[str, Any]) -> str:
    """The primary number from ``phones`` (v2) or ``phone`` (v1), else the first one."""
    entries = person.get("phones")
    if entries is None:
        entries = person.get("phone")
    if isinstance(entries, str):
        return entries.strip()
    if not isinstance(entries, list):
        return ""
    numbers = [e for e in entries if isinstance(e, dict) and as_text(e.get("value"))]
    for entry in numbers:
        if entry.get("primary") is True:
            return as_text(entry.get("value"))
    return as_text(numbers[0].get("value")) if numbers else ""


def owner_id(value: object) -> str:
    """``owner_id`` as an id, whether sent as a number or as ``{"id": .., "value": ..}``."""
    if isinstance(value, dict):
        return as_text(value.get("id")) or as_text(value.get("value"))
    return as_text(value)


class PipedriveWebhookView(WebhookView):
    provider = WebhookProvider.PIPEDRIVE

    def is_configured(self) -> bool:
        return bool(app_settings.PIPEDRIVE_WEBHOOK_USER and app_settings.PIPEDRIVE_WEBHOOK_PASSWORD)

    @sensitive_variables("header", "encoded", "password", "expected_password")
    def authenticate(self, request: HttpRequest, body: bytes) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise WebhookAuthenticationError("HTTP basic auth credentials are required.")
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        except (binascii.Error, ValueError):
            raise WebhookAuthenticationError("The basic auth credentials are not base64.") from None
        expected_user = str(app_settings.PIPEDRIVE_WEBHOOK_USER).encode()
        expected_password = str(app_settings.PIPEDRIVE_WEBHOOK_PASSWORD).encode()
        # Both comparisons always run, in constant time.
        user_ok = hmac.compare_digest(user, expected_user)
        password_ok = hmac.compare_digest(password, expected_password)
        if not (sep and user_ok and password_ok):
            raise WebhookAuthenticationError("Wrong basic auth credentials.")

    def unauthorized(self, err: WebhookAuthenticationError) -> HttpResponse:
        response = JsonResponse({"status": "unauthorized", "error": str(err)}, status=401)
        response["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
        return response

    def delivery_id(self, request: HttpRequest, body: bytes) -> str:
        return pipedrive_delivery_id(body)


def pipedrive_delivery_id(body: bytes) -> str:
    """v2: ``meta.id`` (unique per event). v1's ``meta.id`` is the object's id, so a v1
    delivery is identified by webhook, object, id, action and ``timestamp_micro``
    (unchanged on retries). Without either, a hash of the body."""
    try:
        payload = load_json(decode_body(body))
    except UnusableDeliveryError:
        payload = None  # stored and rejected by the parser, with the reason
    meta = payload.get("meta") if isinstance(payload, dict) else None
    if not isinstance(meta, dict):
        return clean_delivery_id(None, body=body)
    if "entity" in meta or "data" in payload:
        return clean_delivery_id(meta.get("id"), body=body)
    parts = [meta.get(k) for k in ("webhook_id", "object", "id", "action", "timestamp_micro")]
    if all(p not in (None, "") for p in parts):
        return clean_delivery_id("v1:" + ":".join(str(p) for p in parts), body=body)
    return clean_delivery_id(None, body=body)


@provider_check
def check_pipedrive_settings() -> list[CheckMessage]:
    if app_settings.PIPEDRIVE_WEBHOOK_USER and app_settings.PIPEDRIVE_WEBHOOK_PASSWORD:
        return []
    return [
        unset_warning(
            "Pipedrive",
            "CLICKTOAGENT['PIPEDRIVE_WEBHOOK_USER'] and ['PIPEDRIVE_WEBHOOK_PASSWORD']",
            hint="Set PIPEDRIVE_WEBHOOK_USER and PIPEDRIVE_WEBHOOK_PASSWORD.",
            id="clicktoagent.W104",
        )
    ]
