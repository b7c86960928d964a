"""What every webhook provider shares besides the view: the CRM-neutral call a delivery
asks for (:class:`WebhookCall`), the deliveries a request carries, the parser registry,
the errors, and helpers to read bodies.

A provider module defines a :class:`WebhookParser` subclass (registered with
:func:`register_parser`) that turns a *stored* delivery into the calls to place, so a
delivery can be processed again later from its stored body alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.exceptions import SuspiciousOperation

from ..calls.request import CallRequest, call_fields_of
from ..conf import app_settings
from ..exceptions import ClickToAgentError
from ..jsonsafe import UnsafeJSONError, parse_json
from ..models import WebhookEvent

MAX_DELIVERY_ID_LENGTH = 200


class WebhookAuthenticationError(ClickToAgentError, SuspiciousOperation):
    """The request did not prove it came from the configured sender."""


class WebhookNotConfiguredError(WebhookAuthenticationError):
    """The endpoint has no secret (or allow-list) configured, so it trusts no one."""


class MalformedWebhookError(ClickToAgentError):
    """The request cannot be read at all, before anything could be stored."""


class UnusableDeliveryError(ClickToAgentError):
    """An authenticated delivery that cannot become a call (no phone, unknown agent...)."""


class IgnoredDeliveryError(ClickToAgentError):
    """An authenticated delivery that is not meant to place a call (e.g. an update)."""


@dataclass(frozen=True)
class WebhookCall:
    """One call a delivery asks for, in the CRM-neutral form the services act on."""

    phone_to_call: str
    contact_ref: str = ""
    owner_id: str = ""  # the CRM user who owns the record, resolved through CrmUserMapping
    queue_id: str = ""
    agent_id: str = ""
    first_callerid: str = ""
    second_callerid: str = ""
    record: int | None = None
    warning: int | None = None
    callback_url: str = ""
    contact_region: str = ""  # the contact's state or province, for the safe-calling rules
    outside_hours: str = ""  # "schedule" or "block"; empty: OUTSIDE_HOURS

    def request(self, *, queue_id: str, agent_id: str) -> CallRequest:
        """The call, checked, to ``queue_id`` and ``agent_id`` (the routed ones)."""
        routed = dataclasses.replace(self, queue_id=queue_id, agent_id=agent_id)
        return CallRequest.validate(**call_fields_of(routed))


@dataclass(frozen=True)
class Delivery:
    """One unit a request carries, stored as one WebhookEvent."""

    delivery_id: str
    body: str


class WebhookParser:
    """Turns a stored delivery of one provider into calls."""

    provider: ClassVar[str]

    def dedupe_window(self) -> float | None:
        """Seconds within which the same delivery id counts as a duplicate.

        ``None`` (the default): a delivery id is unique for ever. Providers that send no
        delivery id and are deduplicated on a hash of the body use a window, so the same
        contact can be called again by a later, identical delivery.
        """
        return None

    def calls(self, *, event: WebhookEvent) -> list[WebhookCall]:
        """The calls ``event`` asks for; raise Unusable/IgnoredDeliveryError otherwise."""
        raise NotImplementedError


_PARSERS: dict[str, WebhookParser] = {}


def register_parser(cls: type[WebhookParser]) -> type[WebhookParser]:
    _PARSERS[cls.provider] = cls()
    return cls


def get_parser(provider: str) -> WebhookParser:
    """The parser of ``provider`` (every provider module is loaded with the app, see
    ``providers.py``)."""
    return _PARSERS[provider]


def body_hash(body: bytes) -> str:
    return f"sha256:{hashlib.sha256(body).hexdigest()}"


def clean_delivery_id(value: object, *, body: bytes) -> str:
    """A usable delivery id: the sender's own, or a hash when missing or too long."""
    text = str(value).strip() if value is not None else ""
    if not text:
        return body_hash(body)
    if len(text) > MAX_DELIVERY_ID_LENGTH:
        return body_hash(text.encode())
    return text


def decode_body(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def load_json(text: str) -> Any:
    """A JSON body within ``WEBHOOK_MAX_BODY_BYTES`` and ``JSON_MAX_DEPTH``, else the
    delivery is unusable (stored ``rejected`` with the reason, never a 500)."""
    try:
        return parse_json(
            text,
            max_depth=int(app_settings.JSON_MAX_DEPTH),
            max_bytes=int(app_settings.WEBHOOK_MAX_BODY_BYTES),
        )
    except UnsafeJSONError as err:
        raise UnusableDeliveryError(f"The body cannot be read: {err}.") from None


def as_text(value: object) -> str:
    """A scalar from a JSON payload as text ('' for None, objects and lists)."""
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value).strip()
