"""The HubSpot workflow webhook endpoint."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt, CrmUserMapping, WebhookEvent
from clicktoagent.webhooks.hubspot import hubspot_uri, signature_v1, signature_v2, signature_v3
from tests.webhooks.conftest import (
    BASE,
    HUBSPOT_SECRET,
    hubspot_headers,
    json_body,
    post_json,
    run_together,
)

pytestmark = pytest.mark.django_db(transaction=True)

PATH = f"{BASE}/hubspot/?queue_id=12345&agent_id=98765"
URI = f"http://testserver{PATH}"
FLAT = {
    "hs_object_id": "501",
    "phone": "+1 312-555-0123",
    "hubspot_owner_id": "",
    "firstname": "Ann",
}
CLASSIC = {
    "vid": 502,
    "canonical-vid": 502,
    "portal-id": 62515,
    "is-contact": True,
    "properties": {
        "phone": {"value": "(312) 555-0124"},
        "hubspot_owner_id": {"value": "7771"},
        "hs_object_id": {"value": "502"},
        "firstname": {"value": "Bo"},
    },
}


def deliver(client: Client, data: object, *, path: str = PATH, **kwargs: Any):
    body = json_body(data)
    uri = f"http://testserver{path}"
    return post_json(client, path, body, **hubspot_headers(body, uri=uri, **kwargs))


# -- signature rules (HubSpot's documented examples) -----------------------------------


def test_v1_and_v2_match_hubspots_documented_examples() -> None:
    secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
    body = (
        b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
        b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
        b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
    )
    assert (
        signature_v1(secret=secret, body=body)
        == "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    )
    assert (
        signature_v2(
            secret=secret, method="GET", uri="https://www.example.com/webhook_uri", body=b""
        )
        == "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
    )


def test_uri_decoding_is_hubspots_list_only() -> None:
    uri = "https://h.example.com/hook?a=%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B&b=%20%26%3d&c=%3a"
    assert hubspot_uri(uri) == "https://h.example.com/hook?a=:/?@!$'()*,;&b=%20%26%3d&c=:"


# -- deliveries ----------------------------------------------------------------------


def test_flat_properties_place_the_call(webhook_settings: SandboxServer, demo_data) -> None:
    response = deliver(Client(), FLAT)
    assert response.status_code == 200, response.content
    attempt = CallAttempt.objects.get()
    assert attempt.status == CallAttempt.Status.PLACED
    assert attempt.contact_ref == "hubspot:contact:501"
    assert attempt.phone_to_call == "3125550123"
    event = WebhookEvent.objects.get()
    assert event.delivery_id == "sha256:" + hashlib.sha256(json_body(FLAT)).hexdigest()
    assert event.query == {"queue_id": "12345", "agent_id": "98765"}
    assert len(webhook_settings.requests()) == 1


def test_classic_properties_and_mapped_owner(webhook_settings, demo_data) -> None:
    CrmUserMapping.objects.create(provider="hubspot", crm_user_id="7771", agent=demo_data["sam"])
    response = deliver(Client(), CLASSIC)
    assert response.status_code == 200, response.content
    attempt = CallAttempt.objects.get()
    assert attempt.contact_ref == "hubspot:contact:502"
    assert attempt.phone_to_call == "3125550124"
    # The mapped owner's agent wins over the URL's agent_id; the URL's queue is theirs too.
    assert (attempt.queue.queue_id, attempt.agent.agent_id) == ("12345", "98766")


def test_encoded_query_and_proxy_host_are_signed_as_hubspot_sees_them(
    webhook_settings, demo_data, settings
) -> None:
    settings.ALLOWED_HOSTS = ["hooks.example.com", "testserver"]
    settings.USE_X_FORWARDED_HOST = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    path = f"{BASE}/hubspot/?queue_id=12345&agent_id=98765&source=form%3Acontact%2Fus"
    body = json_body(FLAT)
    headers = hubspot_headers(body, uri=f"https://hooks.example.com{path}")
    response = Client().generic(
        "POST",
        path,
        body,
        content_type="application/json",
        headers={**headers, "X-Forwarded-Host": "hooks.example.com", "X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 200, response.content
    # Without the proxy headers the URL differs from the one HubSpot signed.
    WebhookEvent.objects.all().delete()
    response = post_json(Client(), path, body, **headers)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("tamper", ["secret", "missing", "method_uri", "body", "timestamp_header"])
def test_bad_signatures_are_refused(webhook_settings, demo_data, caplog, tamper) -> None:
    body = json_body(FLAT)
    headers = hubspot_headers(body, uri=URI)
    if tamper == "secret":
        headers = hubspot_headers(body, uri=URI, secret="another-secret")
    elif tamper == "missing":
        headers = {}
    elif tamper == "method_uri":
        headers = hubspot_headers(body, uri=f"http://testserver{BASE}/hubspot/")
    elif tamper == "body":
        body = json_body({**FLAT, "phone": "3125550124"})
    elif tamper == "timestamp_header":
        headers["X-HubSpot-Request-Timestamp"] = "soon"
    response = post_json(Client(), PATH, body, **headers)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert HUBSPOT_SECRET not in caplog.text


@pytest.mark.parametrize("offset_ms", [-301_000, 301_000])
def test_stale_and_future_timestamps_are_refused(webhook_settings, demo_data, offset_ms) -> None:
    response = deliver(Client(), FLAT, timestamp_ms=int(time.time() * 1000) + offset_ms)
    assert response.status_code == 401
    assert "five minutes" in response.json()["error"]
    assert not WebhookEvent.objects.exists()


def test_legacy_signatures_only_when_allowed(webhook_settings, demo_data, settings) -> None:
    body = json_body(FLAT)
    v1 = {"X-HubSpot-Signature": signature_v1(secret=HUBSPOT_SECRET, body=body)}
    v2 = {
        "X-HubSpot-Signature": signature_v2(
            secret=HUBSPOT_SECRET, method="POST", uri=URI, body=body
        ),
        "X-HubSpot-Signature-Version": "v2",
    }
    assert post_json(Client(), PATH, body, **v1).status_code == 401
    assert post_json(Client(), PATH, body, **v2).status_code == 401
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "HUBSPOT_ALLOW_LEGACY_SIGNATURES": True}
    assert post_json(Client(), PATH, body, **v1).status_code == 200
    assert post_json(Client(), PATH, body, **v2).json()["status"] == "duplicate"
    wrong = {**v2, "X-HubSpot-Signature": "0" * 64}
    assert post_json(Client(), PATH, body, **wrong).status_code == 401


def test_same_body_within_the_window_is_not_dialled_again(
    webhook_settings: SandboxServer, demo_data
) -> None:
    client = Client()
    assert deliver(client, FLAT).json()["status"] == "processed"
    replay = deliver(client, FLAT)
    assert replay.status_code == 200
    assert replay.json()["status"] == "duplicate"
    assert CallAttempt.objects.count() == 1
    assert len(webhook_settings.requests()) == 1
    # Past the window the same body is a new delivery and a new call.
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(seconds=601))
    again = deliver(client, FLAT)
    assert again.json()["status"] == "processed"
    assert CallAttempt.objects.count() == 2
    assert len(webhook_settings.requests()) == 2
    assert WebhookEvent.objects.filter(holds_delivery_id=True).count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "not valid JSON"),
        ([FLAT], "must be a JSON object"),
        ({"hs_object_id": "503", "firstname": "No Phone"}, "no 'phone' property"),
        ({**FLAT, "phone": "555"}, "phone_to_call"),
    ],
)
def test_unusable_deliveries_are_rejected(webhook_settings, demo_data, data, message) -> None:
    body = b"{broken" if data is None else json_body(data)
    response = post_json(Client(), PATH, body, **hubspot_headers(body, uri=URI))
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.REJECTED
    assert not CallAttempt.objects.exists()


def test_property_names_are_settings(webhook_settings, demo_data, settings) -> None:
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "HUBSPOT_PHONE_PROPERTY": "mobilephone",
        "HUBSPOT_OBJECT_ID_PROPERTY": "record_id",
        "HUBSPOT_OWNER_PROPERTY": "sales_rep",
    }
    CrmUserMapping.objects.create(provider="hubspot", crm_user_id="88", agent=demo_data["sam"])
    response = deliver(
        Client(), {"record_id": "9001", "mobilephone": "3125550125", "sales_rep": 88}
    )
    assert response.status_code == 200, response.content
    attempt = CallAttempt.objects.get()
    assert attempt.contact_ref == "hubspot:contact:9001"
    assert attempt.agent.agent_id == "98766"


@pytest.mark.postgres
def test_concurrent_duplicates_make_one_call(webhook_settings: SandboxServer, demo_data) -> None:
    webhook_settings.add_fault("latency", seconds=0.2)
    body = json_body(FLAT)
    headers = hubspot_headers(body, uri=URI)
    results = run_together(6, lambda: post_json(Client(), PATH, body, **headers))
    assert sorted(r.status_code for r in results) == [200] * 6, results
    assert WebhookEvent.objects.filter(holds_delivery_id=True).count() == 1
    assert CallAttempt.objects.count() == 1
    assert len(webhook_settings.requests()) == 1


REPORT_SECRET = "hubspot-client-secret-value"  # a global: test frames don't show it


def test_error_reports_hide_the_client_secret(settings) -> None:
    """An error inside signing shows its frame's locals in Django's error report
    (HTML page and admin e-mails), but never the secret."""
    import sys

    from django.views.debug import ExceptionReporter

    settings.DEBUG = False
    try:
        signature_v3(
            secret=REPORT_SECRET,
            method="POST",
            uri="https://x/",
            body="not bytes",  # type: ignore[arg-type]
            timestamp="1",
        )
    except TypeError:
        exc_type, exc, tb = sys.exc_info()
    else:
        raise AssertionError("signing a str body should fail")
    html = ExceptionReporter(None, exc_type, exc, tb).get_traceback_html()
    assert "signature_v3" in html
    assert REPORT_SECRET not in html
