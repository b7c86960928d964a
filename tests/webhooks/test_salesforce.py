"""The Salesforce outbound message endpoint."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core.checks import run_checks
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.db import OperationalError, connection
from django.test import Client
from lxml import etree

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.logging import JsonFormatter
from clicktoagent.models import CallAttempt, CrmUserMapping, WebhookEvent
from clicktoagent.webhooks.salesforce import salesforce_id15, salesforce_id_checksum
from tests.webhooks.conftest import (
    BASE,
    SALESFORCE_ORG,
    SALESFORCE_TOKEN,
    run_together,
    salesforce_message,
    salesforce_notification,
)

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINT = f"{BASE}/salesforce/"
PATH = f"{ENDPOINT}?token={SALESFORCE_TOKEN}&queue_id=12345&agent_id=98765"
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


def test_eighteen_character_allow_list_entry_matches_a_fifteen_character_id(
    webhook_settings, demo_data
) -> None:
    body = salesforce_message(
        salesforce_notification(notification_id="04lX2"), organization_id=SALESFORCE_ORG[:15]
    )
    assert_ack(post_xml(body))
    assert CallAttempt.objects.count() == 1


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


# -- authentication: the token in the URL, then the exact organization id ------------


def assert_refused(response: Any, status: int = 401) -> None:
    assert response.status_code == status, response.content
    assert b"<faultstring>" in response.content


def one_call() -> bytes:
    return salesforce_message(salesforce_notification(notification_id="04l0000000000T1AAA"))


@pytest.mark.parametrize(
    "query",
    [
        "queue_id=12345&agent_id=98765",  # no token
        "token=&queue_id=12345&agent_id=98765",
        "token=wrong-token&queue_id=12345&agent_id=98765",
        f"token={SALESFORCE_TOKEN[:-1]}&queue_id=12345",
        f"token={SALESFORCE_TOKEN}x&queue_id=12345",
        f"token={SALESFORCE_TOKEN.upper()}&queue_id=12345",
    ],
)
def test_missing_or_wrong_token_is_refused_and_nothing_stored_or_dialled(
    webhook_settings: SandboxServer, demo_data, caplog, query: str
) -> None:
    response = post_xml(one_call(), f"{ENDPOINT}?{query}")
    assert_refused(response)
    assert b"token" in response.content
    assert not WebhookEvent.objects.exists()
    assert not CallAttempt.objects.exists()
    assert webhook_settings.requests() == []
    assert "webhook salesforce: refused a delivery" in caplog.text


def test_twenty_notifications_without_the_token_place_no_call(
    webhook_settings: SandboxServer, demo_data
) -> None:
    # The reported attack: one unauthenticated POST with 20 notifications placed 20 calls.
    notes = [
        salesforce_notification(notification_id=f"04l00000000{i:04d}AAA", phone=f"312555{i:04d}")
        for i in range(20)
    ]
    for path in (f"{ENDPOINT}?queue_id=12345&agent_id=98765", f"{ENDPOINT}?token=guess"):
        assert_refused(post_xml(salesforce_message(*notes), path))
    assert not WebhookEvent.objects.exists()
    assert not CallAttempt.objects.exists()
    assert webhook_settings.requests() == []


def test_no_token_configured_refuses_every_delivery(
    webhook_settings: SandboxServer, settings, demo_data
) -> None:
    for unset in ("", [], ["", " "]):
        settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "SALESFORCE_WEBHOOK_TOKEN": unset}
        for path in (PATH, f"{ENDPOINT}?token=&queue_id=12345"):
            response = post_xml(one_call(), path)
            assert_refused(response)
            assert b"not configured" in response.content
    assert not WebhookEvent.objects.exists()
    assert webhook_settings.requests() == []


def test_tokens_can_be_rotated(webhook_settings: SandboxServer, settings, demo_data) -> None:
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "SALESFORCE_WEBHOOK_TOKEN": ["old-token-7YcB2qLx9w", "new-token-Hd83kPq0Zr"],
    }
    for number, token in enumerate(["old-token-7YcB2qLx9w", "new-token-Hd83kPq0Zr"], start=1):
        body = salesforce_message(salesforce_notification(notification_id=f"04lROT{number}"))
        assert_ack(post_xml(body, f"{ENDPOINT}?token={token}&queue_id=12345&agent_id=98765"))
    assert_refused(
        post_xml(
            salesforce_message(salesforce_notification(notification_id="04lROT3")),
            f"{ENDPOINT}?token={SALESFORCE_TOKEN}&queue_id=12345&agent_id=98765",
        )
    )
    assert CallAttempt.objects.count() == 2
    assert len(webhook_settings.requests()) == 2


@pytest.mark.parametrize(
    "organization_id",
    [
        SALESFORCE_ORG[:15] + "XXXXXXXXXXXX",  # 27 characters: the reported bypass
        SALESFORCE_ORG + "A",  # 19 characters
        SALESFORCE_ORG[:15].lower(),  # 15 characters compare case-sensitively
        SALESFORCE_ORG[:15].swapcase(),
        SALESFORCE_ORG[:15] + "AAA",  # 18 characters with a wrong checksum
        SALESFORCE_ORG[:15].lower() + SALESFORCE_ORG[15:],  # case changed, old checksum
        SALESFORCE_ORG[:14],
        SALESFORCE_ORG[:15] + "EA",
        " " + SALESFORCE_ORG[:15] + "-" + SALESFORCE_ORG[15:],
        "00D5g000004ABCE",  # another organization
    ],
)
def test_altered_organization_id_is_refused(
    webhook_settings: SandboxServer, demo_data, organization_id: str
) -> None:
    body = salesforce_message(
        salesforce_notification(notification_id="04l0000000000O1AAA"),
        organization_id=organization_id,
    )
    response = post_xml(body)
    assert_refused(response)
    assert b"OrganizationId" in response.content
    assert not WebhookEvent.objects.exists()
    assert webhook_settings.requests() == []


def test_salesforce_id_checksum() -> None:
    # The example of Salesforce's documentation, and the fixture's organization.
    assert salesforce_id_checksum("001A0000006Vm9r") == "IAC"
    assert salesforce_id15("001A0000006Vm9rIAC") == "001A0000006Vm9r"
    assert salesforce_id15("001A0000006Vm9r") == "001A0000006Vm9r"
    assert salesforce_id15(SALESFORCE_ORG) == SALESFORCE_ORG[:15]
    for bad in ("001A0000006Vm9rIAc", "001A0000006Vm9RIAC", "001A0000006Vm9", "", "0" * 27):
        assert salesforce_id15(bad) is None


def test_message_declaring_a_dtd_in_utf16_is_refused(
    webhook_settings: SandboxServer, demo_data
) -> None:
    note = salesforce_notification(notification_id="04l0000000000U1AAA", phone="&phone;")
    text = (
        salesforce_message(note)
        .decode()
        .replace(
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            '<?xml version="1.0" encoding="UTF-16"?>\n'
            '<!DOCTYPE soapenv:Envelope [<!ENTITY phone "(312) 555-0123">]>\n',
        )
    )
    assert "<!DOCTYPE" in text
    for body in (text.encode("utf-16"), text.encode("utf-16-be"), text.encode("utf-32")):
        started = time.monotonic()
        response = post_xml(body)
        assert time.monotonic() - started < 1.0
        assert_refused(response, 400)
        assert b"DTD or entities" in response.content
    assert not WebhookEvent.objects.exists()
    assert not CallAttempt.objects.exists()
    assert webhook_settings.requests() == []


# -- the token is a secret: never logged, stored or answered -------------------------


def test_token_never_logged_stored_or_answered(
    webhook_settings: SandboxServer, demo_data, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    responses = [
        post_xml(one_call()),
        post_xml(one_call()),  # a duplicate
        post_xml(salesforce_message(salesforce_notification(notification_id="04lT2", phone="1"))),
        post_xml(
            salesforce_message(
                salesforce_notification(notification_id="04lT3"), organization_id="x"
            )
        ),
        post_xml(b"not xml"),
        post_xml(one_call(), f"{ENDPOINT}?token={SALESFORCE_TOKEN}-wrong&queue_id=12345"),
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 401, 400, 401]
    stored = json.dumps(list(WebhookEvent.objects.values()), default=str)
    assert WebhookEvent.objects.count() == 3
    assert all(
        event.query == {"queue_id": "12345", "agent_id": "98765"}
        for event in WebhookEvent.objects.all()
    )
    assert SALESFORCE_TOKEN not in stored
    answered = b"".join(r.content for r in responses).decode()
    assert SALESFORCE_TOKEN not in answered
    assert SALESFORCE_TOKEN not in caplog.text
    formatter = JsonFormatter()
    for record in caplog.records:
        assert SALESFORCE_TOKEN not in formatter.format(record)


def test_token_is_not_on_the_debug_error_page(
    webhook_settings: SandboxServer, demo_data, settings, monkeypatch
) -> None:
    from clicktoagent.webhooks import base

    def fail(**kwargs: Any) -> None:
        raise RuntimeError("storage failed")

    monkeypatch.setattr(base, "webhook_delivery_receive", fail)
    settings.DEBUG = True
    response = Client(raise_request_exception=False).generic(
        "POST", PATH, one_call(), content_type="text/xml; charset=utf-8"
    )
    assert response.status_code == 500
    page = response.content.decode()
    assert "storage failed" in page and "queue_id=12345" in page
    assert SALESFORCE_TOKEN not in page


def test_json_log_lines_mask_every_rotated_token(webhook_settings, settings) -> None:
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "SALESFORCE_WEBHOOK_TOKEN": ["old-token-7YcB2qLx9w", "new-token-Hd83kPq0Zr"],
    }
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "saw %s and %s", ("old-token-7YcB2qLx9w", "new"), None
    )
    record.url = "/hooks/?token=new-token-Hd83kPq0Zr"
    line = JsonFormatter().format(record)
    assert "old-token-7YcB2qLx9w" not in line and "new-token-Hd83kPq0Zr" not in line


def send_through_runserver(paths: list[str]) -> None:
    """Post through the handler ``manage.py runserver`` logs its access lines with."""
    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for path in paths:
            requests.post(
                f"http://127.0.0.1:{server.server_address[1]}{path}",
                data=one_call(),
                headers={"Content-Type": "text/xml; charset=utf-8"},
                timeout=10,
            )
    finally:
        # Returns once the last request is fully handled, its access line logged.
        server.shutdown()
        server.server_close()


def test_runserver_access_log_masks_the_token(
    webhook_settings, demo_data, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Django's logging config does not propagate django.server: listen to it directly.
    access_logger = logging.getLogger("django.server")
    access_logger.addHandler(caplog.handler)
    try:
        send_through_runserver([PATH, f"{ENDPOINT}?token={SALESFORCE_TOKEN}-wrong&queue_id=12345"])
    finally:
        access_logger.removeHandler(caplog.handler)
    access = [r for r in caplog.records if r.name == "django.server"]
    assert [r.args[1] for r in access] == ["200", "401"]  # type: ignore[index]
    assert all("token=[redacted]" in r.getMessage() for r in access)
    assert SALESFORCE_TOKEN not in caplog.text
    for record in caplog.records:
        assert SALESFORCE_TOKEN not in JsonFormatter().format(record)


# -- system checks -------------------------------------------------------------------


def check_ids() -> set[str]:
    return {m.id for m in run_checks() if m.id and m.id.startswith("clicktoagent.")}


def test_system_check_warns_while_no_token_is_set(webhook_settings, settings) -> None:
    assert not check_ids() & {"clicktoagent.W105", "clicktoagent.E103", "clicktoagent.E104"}
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "SALESFORCE_WEBHOOK_TOKEN": ""}
    assert "clicktoagent.W105" in check_ids()


def test_system_check_refuses_invalid_organization_ids_and_tokens(
    webhook_settings, settings
) -> None:
    for orgs in (["00D000000000001XXXXXXXXXXXX"], [SALESFORCE_ORG[:15] + "AAA"], ["00D5g"]):
        settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "SALESFORCE_ORGANIZATION_IDS": orgs}
        messages = [m for m in run_checks() if m.id == "clicktoagent.E103"]
        assert messages and orgs[0] in messages[0].msg
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "SALESFORCE_ORGANIZATION_IDS": [SALESFORCE_ORG],
        "SALESFORCE_WEBHOOK_TOKEN": 12345,
    }
    assert "clicktoagent.E104" in check_ids()
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "SALESFORCE_WEBHOOK_TOKEN": "Pq7xZ"}
    messages = [m for m in run_checks() if m.id == "clicktoagent.W106"]
    assert messages and "Pq7xZ" not in f"{messages[0].msg} {messages[0].hint}"
