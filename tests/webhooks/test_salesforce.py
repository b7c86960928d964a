"""The Salesforce outbound message endpoint."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client
from lxml import etree

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt, CrmUserMapping, WebhookEvent
from tests.webhooks.conftest import (
    BASE,
    SALESFORCE_ORG,
    run_together,
    salesforce_message,
    salesforce_notification,
)

pytestmark = pytest.mark.django_db(transaction=True)

PATH = f"{BASE}/salesforce/?queue_id=12345&agent_id=98765"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def post_xml(body: bytes, path: str = PATH) -> Any:
    return Client().generic(
        "POST", path, body, content_type="text/xml; charset=utf-8", headers={"SOAPAction": '""'}
    )


def assert_ack(response: Any) -> None:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    root = etree.fromstring(response.content)
    ack = root.find(f"{{{SOAP}}}Body/{{{OUTBOUND}}}notificationsResponse/{{{OUTBOUND}}}Ack")
    assert ack is not None and ack.text == "true"


def test_each_notification_becomes_a_call(webhook_settings: SandboxServer, demo_data) -> None:
    CrmUserMapping.objects.create(
        provider="salesforce", crm_user_id="005000000000002", agent=demo_data["sam"]
    )
    body = salesforce_message(
        salesforce_notification(notification_id="04l000000000001AAA"),
        salesforce_notification(
            notification_id="04l000000000002AAA",
            sobject_type="Lead",
            record_id="00Q000000000001AAA",
            phone="312.555.0124",
            owner_id="005000000000002AAA",  # mapped by its 15-character form
        ),
    )
    assert_ack(post_xml(body))
    attempts = {a.contact_ref: a for a in CallAttempt.objects.select_related("agent")}
    assert set(attempts) == {
        "salesforce:Contact:003000000000001AAA",
        "salesforce:Lead:00Q000000000001AAA",
    }
    assert attempts["salesforce:Contact:003000000000001AAA"].agent.agent_id == "98765"
    assert attempts["salesforce:Lead:00Q000000000001AAA"].agent.agent_id == "98766"
    assert all(a.status == CallAttempt.Status.PLACED for a in attempts.values())
    events = WebhookEvent.objects.order_by("delivery_id")
    assert [e.delivery_id for e in events] == ["04l000000000001AAA", "04l000000000002AAA"]
    assert all(e.status == WebhookEvent.Status.PROCESSED for e in events)
    # The stored body is the notification, never the envelope with its live SessionId.
    for event in events:
        assert "<sf:Phone>" in event.body
        assert "SessionToken" not in event.body
    assert len(webhook_settings.requests()) == 2


def test_unknown_or_missing_organization_is_refused(webhook_settings, demo_data, caplog) -> None:
    note = salesforce_notification(notification_id="04l000000000003AAA")
    for org in ("00D000000000999AAA", ""):
        response = post_xml(salesforce_message(note, organization_id=org))
        assert response.status_code == 401
        assert b"Fault" in response.content
    assert not WebhookEvent.objects.exists()
    assert "refused a delivery" in caplog.text


def test_fifteen_character_allow_list_entry_matches(webhook_settings, settings, demo_data) -> None:
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "SALESFORCE_ORGANIZATION_IDS": [SALESFORCE_ORG[:15]],
    }
    assert_ack(post_xml(salesforce_message(salesforce_notification(notification_id="04lX1"))))
    assert CallAttempt.objects.count() == 1


def test_replayed_message_is_acknowledged_and_not_dialled(
    webhook_settings: SandboxServer, demo_data
) -> None:
    body = salesforce_message(salesforce_notification(notification_id="04l000000000004AAA"))
    assert_ack(post_xml(body))
    assert_ack(post_xml(body))
    assert CallAttempt.objects.count() == 1
    assert len(webhook_settings.requests()) == 1
    assert WebhookEvent.objects.filter(status="duplicate").count() == 1


def test_unusable_notifications_are_stored_rejected_and_acknowledged(
    webhook_settings: SandboxServer, demo_data
) -> None:
    body = salesforce_message(
        salesforce_notification(notification_id="04l0000000000A1AAA", phone=None),
        salesforce_notification(notification_id="04l0000000000A2AAA", phone="12"),
        salesforce_notification(notification_id="04l0000000000A3AAA"),
    )
    assert_ack(post_xml(body))
    events = {e.delivery_id: e for e in WebhookEvent.objects.all()}
    assert events["04l0000000000A1AAA"].status == "rejected"
    assert "no Phone field value" in events["04l0000000000A1AAA"].error
    assert events["04l0000000000A2AAA"].status == "rejected"
    assert "phone_to_call" in events["04l0000000000A2AAA"].error
    assert events["04l0000000000A3AAA"].status == "processed"
    assert CallAttempt.objects.count() == 1
    assert len(webhook_settings.requests()) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"<soapenv:Envelope",
        b"not xml at all",
        b'<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="'
        + SOAP.encode()
        + b'"><soapenv:Body/></soapenv:Envelope>',
        salesforce_message(),
    ],
)
def test_malformed_messages_are_refused(webhook_settings, demo_data, body: bytes) -> None:
    response = post_xml(body)
    assert response.status_code == 400
    assert b"<faultstring>" in response.content
    assert not WebhookEvent.objects.exists()


def test_external_entity_is_refused_without_reading_the_file(
    webhook_settings, demo_data, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("TOP-SECRET-FILE-CONTENT")
    body = (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file://{secret_file}">]>\n'
        + salesforce_message(salesforce_notification(notification_id="04lXXE", phone="&xxe;"))
        .decode()
        .split("\n", 1)[1]
    ).encode()
    started = time.monotonic()
    response = post_xml(body)
    assert time.monotonic() - started < 1.0
    assert response.status_code == 400
    assert b"DTD or entities" in response.content
    assert b"TOP-SECRET" not in response.content
    assert not WebhookEvent.objects.exists()
    assert not CallAttempt.objects.exists()


def test_billion_laughs_is_refused_quickly(webhook_settings, demo_data) -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    body = (f'<?xml version="1.0"?><!DOCTYPE lolz [{entities}]><lolz>&lol9;</lolz>').encode()
    started = time.monotonic()
    response = post_xml(body)
    assert time.monotonic() - started < 1.0
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_database_trouble_answers_a_fault_so_salesforce_retries(
    webhook_settings: SandboxServer, demo_data
) -> None:
    body = salesforce_message(salesforce_notification(notification_id="04l00000000000DBAA"))

    def unavailable(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if "clicktoagent_webhookevent" in sql and sql.lstrip().upper().startswith("INSERT"):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(unavailable):
        response = post_xml(body)
    assert response.status_code == 500
    assert b"soapenv:Server" in response.content
    assert not WebhookEvent.objects.exists()
    # Salesforce's retry, once the database is back, is processed normally.
    assert_ack(post_xml(body))
    assert CallAttempt.objects.count() == 1
    assert len(webhook_settings.requests()) == 1


@pytest.mark.postgres
def test_concurrent_duplicates_make_one_call(webhook_settings: SandboxServer, demo_data) -> None:
    webhook_settings.add_fault("latency", seconds=0.2)
    body = salesforce_message(salesforce_notification(notification_id="04l0000000000CCAAA"))
    results = run_together(6, lambda: post_xml(body))
    assert sorted(r.status_code for r in results) == [200] * 6, results
    assert WebhookEvent.objects.filter(holds_delivery_id=True).count() == 1
    assert CallAttempt.objects.count() == 1
    assert len(webhook_settings.requests()) == 1
