"""Salesforce Outbound Messages: SOAP ``notifications`` of up to 100 ``Notification``s.

Salesforce does not sign outbound messages, so the endpoint URL configured in
Salesforce carries a shared secret: ``?token=...``, compared in constant time with
``SALESFORCE_WEBHOOK_TOKEN`` (one token, or several while rotating). A message is then
accepted only when its ``OrganizationId`` is exactly one of
``SALESFORCE_ORGANIZATION_IDS``: the same 15 case-sensitive characters, optionally
followed by their 3-character case-safe checksum. Each notification is stored
as its own event (deduplicated on the notification ``Id``), and the message is
acknowledged once every notification is stored, including the ones rejected for good,
so Salesforce stops resending them. Only transient trouble (the database being
unavailable) is answered with a SOAP fault, so that Salesforce retries.

The stored body of an event is its ``Notification`` element, never the whole message:
the envelope's ``SessionId`` is a live Salesforce session and must not be kept.
"""

from __future__ import annotations

import hmac
import re
from typing import Any
from xml.sax.saxutils import escape

from django.core.checks import CheckMessage, Error, Warning
from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.decorators.debug import sensitive_variables
from lxml import etree

from ..conf import app_settings, register_settings
from ..models import WebhookEvent, WebhookProvider
from ..xmlsafe import UnsafeXMLError, parse_xml
from .base import WebhookView
from .checks import provider_check, unset_warning
from .parsing import (
    Delivery,
    MalformedWebhookError,
    UnusableDeliveryError,
    WebhookAuthenticationError,
    WebhookCall,
    WebhookParser,
    clean_delivery_id,
    register_parser,
)

register_settings(
    {
        # Organization ids allowed to post (15 characters, or 18 with the checksum suffix).
        "SALESFORCE_ORGANIZATION_IDS": (),
        # The shared secret in the endpoint URL (?token=...): a string, or a list to rotate.
        "SALESFORCE_WEBHOOK_TOKEN": "",
        # sObject fields with the number and the owner.
        "SALESFORCE_PHONE_FIELD": "Phone",
        "SALESFORCE_OWNER_FIELD": "OwnerId",
    },
    secrets=frozenset({"SALESFORCE_WEBHOOK_TOKEN"}),
)

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100

ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}">'
    "<soapenv:Body>"
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body>"
    "</soapenv:Envelope>"
)


def soap_fault(*, code: str, message: str, status: int) -> HttpResponse:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>soapenv:{code}</faultcode><faultstring>{escape(message)}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return HttpResponse(body, status=status, content_type="text/xml; charset=utf-8")


_SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id_checksum(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-safe: for each block of
    5 characters, a 5-bit number (bit i set when character i is an uppercase letter)."""
    return "".join(
        _CHECKSUM_ALPHABET[
            sum(1 << bit for bit, char in enumerate(id15[start : start + 5]) if "A" <= char <= "Z")
        ]
        for start in (0, 5, 10)
    )


def salesforce_id15(value: str) -> str | None:
    """The 15-character form of a Salesforce id, or None when ``value`` is not one: 15
    letters and digits, or those followed by exactly their checksum suffix."""
    if not _SALESFORCE_ID.fullmatch(value):
        return None
    id15 = value[:15]
    if len(value) == 18 and value[15:] != salesforce_id_checksum(id15):
        return None
    return id15


def allowed_organizations() -> set[str]:
    """The 15-character forms of the valid ``SALESFORCE_ORGANIZATION_IDS``."""
    ids = {salesforce_id15(str(org).strip()) for org in app_settings.SALESFORCE_ORGANIZATION_IDS}
    return {org for org in ids if org}


@sensitive_variables("value")
def webhook_tokens() -> list[str]:
    """The configured tokens: ``SALESFORCE_WEBHOOK_TOKEN`` as a string or a list."""
    value = app_settings.SALESFORCE_WEBHOOK_TOKEN
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        return []
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


def _take_token(request: HttpRequest) -> str:
    """Read the ``token`` query parameter and remove it from the request, so no later
    error report (Django's DEBUG page, admin e-mails) can show it."""
    query = request.GET.copy()
    token = query.pop("token", [""])[-1]
    request.META["QUERY_STRING"] = query.urlencode()
    request.GET = QueryDict(request.META["QUERY_STRING"])  # immutable, as Django's own
    return token


@sensitive_variables("token", "tokens", "expected")
def token_matches(token: str, tokens: list[str]) -> bool:
    """Whether ``token`` is one of ``tokens``; every comparison runs, in constant time."""
    given = token.encode()
    matched = False
    for expected in tokens:
        matched |= hmac.compare_digest(given, expected.encode())
    return matched


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _child_text(element: etree._Element, name: str) -> str:
    for child in element:
        if isinstance(child.tag, str) and _local(child) == name:
            return (child.text or "").strip()
    return ""


@register_parser
class SalesforceParser(WebhookParser):
    provider = WebhookProvider.SALESFORCE

    def calls(self, *, event: WebhookEvent) -> list[WebhookCall]:
        try:
            notification = parse_xml(
                event.body.encode(), max_bytes=int(app_settings.WEBHOOK_MAX_BODY_BYTES)
            )
        except UnsafeXMLError as err:
            raise UnusableDeliveryError(f"The notification cannot be read ({err}).") from None
        sobject = next(
            (c for c in notification if isinstance(c.tag, str) and _local(c) == "sObject"), None
        )
        if sobject is None:
            raise UnusableDeliveryError("The notification has no sObject.")
        sobject_type = (sobject.get(f"{{{XSI_NS}}}type") or "").rpartition(":")[2]
        record_id = _child_text(sobject, "Id")
        phone_field = str(app_settings.SALESFORCE_PHONE_FIELD)
        phone = _child_text(sobject, phone_field)
        if not phone:
            raise UnusableDeliveryError(
                f"The {sobject_type or 'record'} has no {phone_field} field value to call "
                "(add the field to the outbound message)."
            )
        return [
            WebhookCall(
                phone_to_call=phone,
                owner_id=_child_text(sobject, str(app_settings.SALESFORCE_OWNER_FIELD)),
                contact_ref=f"salesforce:{sobject_type or 'sObject'}:{record_id}"
                if record_id
                else "",
            )
        ]


class SalesforceWebhookView(WebhookView):
    provider = WebhookProvider.SALESFORCE
    safe_headers = ("SOAPAction",)

    def is_configured(self) -> bool:
        return bool(webhook_tokens() and allowed_organizations())

    def _notifications(self, body: bytes) -> etree._Element:
        try:
            root = parse_xml(body, max_bytes=int(app_settings.WEBHOOK_MAX_BODY_BYTES))
        except UnsafeXMLError as err:
            raise MalformedWebhookError(f"Refused: {err}.") from None
        found = root.find(f"{{{SOAP_NS}}}Body/{{{OUTBOUND_NS}}}notifications")
        if found is None:
            raise MalformedWebhookError(
                "Not a Salesforce outbound message (no soapenv:Body/notifications)."
            )
        return found

    @sensitive_variables("token")
    def authenticate(self, request: HttpRequest, body: bytes) -> None:
        # The token first: nothing of an unauthenticated body is even parsed.
        token = _take_token(request)
        if not token:
            raise WebhookAuthenticationError(
                "The token query parameter is missing: the endpoint URL in Salesforce's "
                "outbound message must end in ?token=<SALESFORCE_WEBHOOK_TOKEN>."
            )
        if not token_matches(token, webhook_tokens()):
            raise WebhookAuthenticationError(
                "The token query parameter does not match SALESFORCE_WEBHOOK_TOKEN."
            )
        notifications = self._notifications(body)
        org = _child_text(notifications, "OrganizationId")
        if salesforce_id15(org) not in allowed_organizations():
            shown = org if len(org) <= 40 else org[:40] + "..."
            raise WebhookAuthenticationError(
                f"OrganizationId {shown!r} is not one of SALESFORCE_ORGANIZATION_IDS (15 "
                "case-sensitive characters, or 18 with their checksum)."
            )

    def deliveries(self, request: HttpRequest, body: bytes) -> list[Delivery]:
        notifications = self._notifications(body)
        items = [
            n
            for n in notifications
            if isinstance(n.tag, str) and n.tag == f"{{{OUTBOUND_NS}}}Notification"
        ]
        if not items:
            raise MalformedWebhookError("The message holds no Notification.")
        if len(items) > MAX_NOTIFICATIONS:
            raise MalformedWebhookError(
                f"The message holds {len(items)} notifications; at most {MAX_NOTIFICATIONS}."
            )
        deliveries = []
        for item in items:
            fragment = etree.tostring(item, encoding="unicode")
            delivery_id = clean_delivery_id(_child_text(item, "Id"), body=fragment.encode())
            deliveries.append(Delivery(delivery_id=delivery_id, body=fragment))
        return deliveries

    def response(self, outcomes: list[object]) -> HttpResponse:
        # Everything is stored (rejected notifications included): acknowledge it all.
        return HttpResponse(ACK, content_type="text/xml; charset=utf-8")

    def unauthorized(self, err: WebhookAuthenticationError) -> HttpResponse:
        return soap_fault(code="Client", message=str(err), status=401)

    def malformed(self, err: MalformedWebhookError) -> HttpResponse:
        return soap_fault(code="Client", message=str(err), status=400)

    def unavailable(self) -> HttpResponse:
        return soap_fault(
            code="Server", message="Temporarily unable to store the message; retry.", status=500
        )


@provider_check
def check_salesforce_settings() -> list[CheckMessage]:
    orgs = app_settings.SALESFORCE_ORGANIZATION_IDS
    messages: list[CheckMessage] = []
    if isinstance(orgs, str):
        messages.append(
            Error(
                "CLICKTOAGENT['SALESFORCE_ORGANIZATION_IDS'] must be a list of ids.",
                id="clicktoagent.E102",
            )
        )
    elif not any(str(o).strip() for o in orgs):
        messages.append(
            unset_warning(
                "Salesforce",
                "CLICKTOAGENT['SALESFORCE_ORGANIZATION_IDS']",
                hint="Set SALESFORCE_ORGANIZATION_IDS (comma-separated).",
                id="clicktoagent.W103",
            )
        )
    else:
        messages.extend(_check_salesforce_organizations(orgs))
    messages.extend(_check_salesforce_token(app_settings.SALESFORCE_WEBHOOK_TOKEN))
    return messages


def _check_salesforce_organizations(orgs: Any) -> list[CheckMessage]:
    invalid = [
        str(o).strip() for o in orgs if str(o).strip() and not salesforce_id15(str(o).strip())
    ]
    if not invalid:
        return []
    return [
        Error(
            "CLICKTOAGENT['SALESFORCE_ORGANIZATION_IDS'] holds "
            f"{', '.join(repr(o) for o in invalid)}, not a Salesforce organization id: it "
            "would never match, and messages from that organization are refused.",
            hint="Copy the id from Salesforce (Setup > Company Information): 15 characters, "
            "or 18 with the 3-character checksum Salesforce appends.",
            id="clicktoagent.E103",
        )
    ]


# Shorter tokens could be guessed; secrets.token_urlsafe(32) gives 43 characters.
MIN_TOKEN_LENGTH = 24


def _check_salesforce_token(value: Any) -> list[CheckMessage]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(t, str) for t in items):
        return [
            Error(
                "CLICKTOAGENT['SALESFORCE_WEBHOOK_TOKEN'] must be a string or a list of "
                "strings (several while rotating).",
                id="clicktoagent.E104",
            )
        ]
    tokens = webhook_tokens()
    if not tokens:
        return [
            unset_warning(
                "Salesforce",
                "CLICKTOAGENT['SALESFORCE_WEBHOOK_TOKEN']",
                hint='Generate a token (python -c "import secrets; '
                'print(secrets.token_urlsafe(32))"), set SALESFORCE_WEBHOOK_TOKEN to it and '
                "add ?token=<it> to the endpoint URL of the outbound message.",
                id="clicktoagent.W105",
            )
        ]
    if any(len(token) < MIN_TOKEN_LENGTH for token in tokens):
        return [
            Warning(
                "A CLICKTOAGENT['SALESFORCE_WEBHOOK_TOKEN'] token is shorter than "
                f"{MIN_TOKEN_LENGTH} characters and could be guessed.",
                hint='Generate one with python -c "import secrets; '
                'print(secrets.token_urlsafe(32))".',
                id="clicktoagent.W106",
            )
        ]
    return []
