"""Fixtures for the webhook endpoints: secrets, signed requests, a callback receiver."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.webhooks.hubspot import signature_v3
from tests.conftest import run_together  # noqa: F401  (re-exported for the provider tests)

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HUBSPOT_SECRET = "hubspot-client-secret-5d1c0b7e"
# 18 characters: the 15-character id and its case-safe checksum suffix.
SALESFORCE_ORG = "00D5g000004ABCDEA4"
SALESFORCE_TOKEN = "sf-hook-3q9XkV7rT1m-Lp0aZ"
PIPEDRIVE_USER = "pipedrive-hooks"
PIPEDRIVE_PASSWORD = "pipedrive-password-8f2a"
SECRETS = (
    WEBHOOK_SECRET,
    WEBHOOK_SECRET.removeprefix("whsec_"),
    HUBSPOT_SECRET,
    SALESFORCE_TOKEN,
    PIPEDRIVE_PASSWORD,
)

BASE = "/clicktoagent/webhooks"


@pytest.fixture
def webhook_settings(sandbox: SandboxServer, settings: Any) -> SandboxServer:
    """Every webhook endpoint configured, and the sandbox standing in for DialogTech."""
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
        "SALESFORCE_ORGANIZATION_IDS": [SALESFORCE_ORG],
        "SALESFORCE_WEBHOOK_TOKEN": SALESFORCE_TOKEN,
        "PIPEDRIVE_WEBHOOK_USER": PIPEDRIVE_USER,
        "PIPEDRIVE_WEBHOOK_PASSWORD": PIPEDRIVE_PASSWORD,
        "WEBHOOK_CALLBACK_BACKOFF": 0.01,
        "WEBHOOK_CALLBACK_TIMEOUT": 2.0,
        # The callback receivers of these tests run on loopback over plain http.
        "CALLBACK_ALLOWED_HOSTS": ["127.0.0.1"],
        "CALLBACK_ALLOW_HTTP": True,
    }
    return sandbox


def generic_headers(
    body: str | bytes,
    *,
    msg_id: str = "msg_2Lf0k3m9",
    timestamp: float | None = None,
    secret: str = WEBHOOK_SECRET,
) -> dict[str, str]:
    """Standard Webhooks headers, signed with the standardwebhooks library."""
    data = body.decode() if isinstance(body, bytes) else body
    moment = datetime.fromtimestamp(time.time() if timestamp is None else timestamp, tz=UTC)
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=moment, data=data)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }


def hubspot_headers(
    body: bytes,
    *,
    uri: str,
    timestamp_ms: int | None = None,
    method: str = "POST",
    secret: str = HUBSPOT_SECRET,
) -> dict[str, str]:
    """v3 headers the way HubSpot computes them for ``uri`` (the URL it called)."""
    stamp = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    return {
        "X-HubSpot-Signature-v3": signature_v3(
            secret=secret, method=method, uri=uri, body=body, timestamp=stamp
        ),
        "X-HubSpot-Request-Timestamp": stamp,
    }


def basic_auth(user: str = PIPEDRIVE_USER, password: str = PIPEDRIVE_PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def salesforce_notification(
    *,
    notification_id: str,
    record_id: str = "003000000000001AAA",
    sobject_type: str = "Contact",
    phone: str | None = "(312) 555-0123",
    owner_id: str = "005000000000001AAA",
) -> str:
    phone_element = f"<sf:Phone>{phone}</sf:Phone>" if phone is not None else ""
    return (
        "<Notification>"
        f"<Id>{notification_id}</Id>"
        f'<sObject xsi:type="sf:{sobject_type}" '
        'xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{record_id}</sf:Id>"
        f"<sf:OwnerId>{owner_id}</sf:OwnerId>"
        f"{phone_element}"
        "</sObject>"
        "</Notification>"
    )


def salesforce_message(*notifications: str, organization_id: str = SALESFORCE_ORG) -> bytes:
    """An outbound message in the form Salesforce sends it."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        " <soapenv:Body>\n"
        '  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">\n'
        f"   <OrganizationId>{organization_id}</OrganizationId>\n"
        "   <ActionId>04k5g000000XYZAAA2</ActionId>\n"
        "   <SessionId>00D5g000004ABCD!AQ0AQSessionTokenThatMustNotBeStored</SessionId>\n"
        "   <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/60.0/00D5g000004ABCD"
        "</EnterpriseUrl>\n"
        "   <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/60.0/00D5g000004ABCD"
        "</PartnerUrl>\n"
        + "".join(notifications)
        + "\n  </notifications>\n </soapenv:Body>\n</soapenv:Envelope>\n"
    ).encode()


def post_json(client: Any, path: str, body: bytes, **headers: str) -> Any:
    return client.generic("POST", path, body, content_type="application/json", headers=headers)


@dataclass
class CallbackServer:
    """A real HTTP server on loopback recording the callbacks it receives."""

    statuses: list[int] = field(default_factory=list)  # answers to give, in order (then 200)
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    port: int = 0
    redirect_to: str = ""  # the Location of a 3xx answer

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received


@contextmanager
def serve_callbacks(path: str = "/hooks/call-finished") -> Iterator[CallbackServer]:
    """Start a recording HTTP server on 127.0.0.1 (ephemeral port) for the block."""
    state = CallbackServer()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with lock:
                status = state.statuses.pop(0) if state.statuses else 200
                state.received.append(
                    {
                        "headers": dict(self.headers.items()),
                        "body": body,
                        "status": status,
                        "path": self.path,
                    }
                )
            self.send_response(status)
            if 300 <= status < 400 and state.redirect_to:
                self.send_header("Location", state.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.port = server.server_address[1]
    state.url = f"http://127.0.0.1:{state.port}{path}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def callback_server() -> Iterator[CallbackServer]:
    with serve_callbacks() as state:
        yield state


def json_body(data: Any) -> bytes:
    return json.dumps(data).encode()
