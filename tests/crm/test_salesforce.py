"""Salesforce write-back: a call Task on the Lead or Contact, with a client credentials
token that is cached and fetched again once on a 401."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from clicktoagent.models import CallAttempt, CrmUserMapping, CrmWriteback
from clicktoagent.services import call_attempt_create
from tests.crm.conftest import TIMEOUT, assert_no_secret, next_try, the_writeback
from tests.webhooks.conftest import (
    BASE,
    SALESFORCE_TOKEN,
    salesforce_message,
    salesforce_notification,
)

pytestmark = pytest.mark.django_db(transaction=True)

PATH = f"{BASE}/salesforce/?token={SALESFORCE_TOKEN}&queue_id=12345&agent_id=98765"
LEAD = "00Q5g00000AbCdEAAZ"
OWNER = "005000000000001AAA"

Status = CrmWriteback.Status


def deliver(*, record_id: str = LEAD, sobject_type: str = "Lead", number: int = 1) -> Any:
    body = salesforce_message(
        salesforce_notification(
            notification_id=f"04l5g00000Note{number:04d}",
            record_id=record_id,
            sobject_type=sobject_type,
            owner_id=OWNER,
        )
    )
    response = Client().generic(
        "POST", PATH, body, content_type="text/xml; charset=utf-8", headers={"SOAPAction": '""'}
    )
    assert response.status_code == 200, response.content
    return response


def place(ref: str) -> CallAttempt:
    attempt = call_attempt_create(
        queue_id="12345",
        agent_id="98765",
        phone_to_call="3125550123",
        contact_ref=ref,
        source="api",
    )
    attempt.refresh_from_db()
    return attempt


def test_a_placed_call_is_a_completed_task_on_the_lead(crm, demo_data) -> None:
    CrmUserMapping.objects.create(provider="salesforce", crm_user_id=OWNER, agent=demo_data["dana"])
    deliver()
    attempt = CallAttempt.objects.get()
    assert attempt.status == "placed" and attempt.contact_ref == f"salesforce:Lead:{LEAD}"
    salesforce = crm["salesforce"]
    (task,) = salesforce.records_of("Lead", LEAD)
    assert task["WhoId"] == LEAD and "WhatId" not in task
    assert task["TaskSubtype"] == "Call"
    assert task["CallType"] == "Outbound"
    assert task["CallObject"] == attempt.sid
    assert task["CallDisposition"] == "success"
    assert task["Status"] == "Completed"
    assert task["ActivityDate"] == attempt.finished_at.date().isoformat()
    assert attempt.sid in task["Subject"]
    assert "Dana Demo (agent 98765)" in task["Description"]
    assert task["OwnerId"] == OWNER
    writeback = the_writeback()
    assert writeback.status == Status.WRITTEN and writeback.crm_record_id == task["Id"]
    assert [r["path"] for r in salesforce.requests] == [
        "/services/oauth2/token",
        "/services/data/v65.0/sobjects/Task/",
    ]


def test_the_token_is_cached_between_write_backs(crm, demo_data) -> None:
    deliver(number=1)
    deliver(number=2, record_id="003000000000002AAA", sobject_type="Contact")
    salesforce = crm["salesforce"]
    assert salesforce.tokens_issued == 1
    assert len(salesforce.records) == 2
    assert salesforce.records_of("Contact", "003000000000002AAA")


def test_an_expired_token_is_fetched_again_once(crm, demo_data) -> None:
    salesforce = crm["salesforce"]
    place(f"salesforce:Lead:{LEAD}")
    salesforce.expire_tokens()  # the cached token is now refused, as an expired session
    place("salesforce:Contact:003000000000002AAA")
    assert salesforce.tokens_issued == 2
    assert len(salesforce.records) == 2
    assert [w.status for w in CrmWriteback.objects.all()] == [Status.WRITTEN] * 2
    operations = [r["operation"] for r in salesforce.requests]
    assert operations == ["token", "create", "create", "token", "create"]


def test_a_second_401_fails_without_another_token(crm, demo_data) -> None:
    salesforce = crm["salesforce"]
    salesforce.add_fault("unauthorized", times=2)
    place(f"salesforce:Lead:{LEAD}")
    writeback = the_writeback()
    assert writeback.status == Status.FAILED
    assert "HTTP 401" in writeback.last_error and "INVALID_SESSION_ID" in writeback.last_error
    assert salesforce.tokens_issued == 2
    assert salesforce.records == []


def test_wrong_client_credentials_fail_with_a_hint_and_no_secret(crm, demo_data, settings) -> None:
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "SALESFORCE_CLIENT_SECRET": "not-the-secret-1234",
    }
    place(f"salesforce:Lead:{LEAD}")
    writeback = the_writeback()
    assert writeback.status == Status.FAILED
    assert "invalid_client: invalid client credentials" in writeback.last_error
    assert "SALESFORCE_CLIENT_SECRET" in writeback.last_error
    assert "not-the-secret-1234" not in writeback.last_error
    assert_no_secret(writeback.last_error)


def test_timeout_after_create_is_found_by_call_object(crm, demo_data) -> None:
    salesforce = crm["salesforce"]
    salesforce.add_fault("timeout_after_create", seconds=TIMEOUT * 3)
    attempt = place(f"salesforce:Lead:{LEAD}")
    writeback = the_writeback()
    assert writeback.status == Status.PENDING and writeback.maybe_written
    assert len(salesforce.records) == 1

    writeback = next_try(writeback)
    assert writeback.status == Status.WRITTEN
    assert writeback.crm_record_id == salesforce.records[0]["Id"]
    assert salesforce.records[0]["CallObject"] == attempt.sid
    assert len(salesforce.records) == 1
    assert [r["operation"] for r in salesforce.requests] == ["token", "create", "lookup"]


def test_timeout_after_create_with_nothing_found_creates_it(crm, demo_data) -> None:
    salesforce = crm["salesforce"]
    salesforce.add_fault("hang", seconds=TIMEOUT * 3)  # nothing created, no answer
    place(f"salesforce:Lead:{LEAD}")
    writeback = next_try(the_writeback())
    assert writeback.status == Status.WRITTEN
    assert len(salesforce.records) == 1
    assert [r["operation"] for r in salesforce.requests] == ["token", "create", "lookup", "create"]


def test_500_and_429_are_retried(crm, demo_data) -> None:
    salesforce = crm["salesforce"]
    salesforce.add_fault("server_error")
    salesforce.add_fault("rate_limited", seconds=0)
    place(f"salesforce:Lead:{LEAD}")
    writeback = next_try(the_writeback())
    assert writeback.status == Status.PENDING and "HTTP 429" in writeback.last_error
    writeback = next_try(writeback)
    assert writeback.status == Status.WRITTEN and writeback.tries == 3
    assert len(salesforce.records) == 1


def test_other_records_are_the_tasks_what(crm, demo_data) -> None:
    place("salesforce:Opportunity:0065g00000XyZabAAB")
    (task,) = crm["salesforce"].records
    assert task["WhatId"] == "0065g00000XyZabAAB" and "WhoId" not in task
