"""HubSpot write-back: a call engagement on the contact, from a signed HubSpot delivery."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from clicktoagent.crm.services import crm_writeback_retry
from clicktoagent.models import CallAttempt, CrmUserMapping, CrmWriteback
from tests.crm.conftest import TIMEOUT, assert_no_secret, next_try, the_writeback
from tests.webhooks.conftest import BASE, hubspot_headers, json_body, post_json

pytestmark = pytest.mark.django_db(transaction=True)

PATH = f"{BASE}/hubspot/?queue_id=12345&agent_id=98765"
CONTACT = {"hs_object_id": "501", "phone": "+1 312-555-0123", "hubspot_owner_id": ""}

Status = CrmWriteback.Status


def deliver(data: dict[str, Any] = CONTACT) -> Any:
    body = json_body(data)
    uri = f"http://testserver{PATH}"
    response = post_json(Client(), PATH, body, **hubspot_headers(body, uri=uri))
    assert response.status_code == 200, response.content
    return response


def test_a_placed_call_is_logged_on_the_contact(crm, demo_data) -> None:
    CrmUserMapping.objects.create(provider="hubspot", crm_user_id="7771", agent=demo_data["dana"])
    deliver()
    attempt = CallAttempt.objects.get()
    assert attempt.status == "placed" and attempt.contact_ref == "hubspot:contact:501"
    hubspot = crm["hubspot"]
    (call,) = hubspot.records_of("contact", "501")
    properties = call["properties"]
    assert properties["hs_call_direction"] == "OUTBOUND"
    assert properties["hs_call_status"] == "COMPLETED"
    assert properties["hs_call_to_number"] == "+13125550123"
    assert properties["hs_call_external_id"] == attempt.sid
    assert attempt.sid in properties["hs_call_title"]
    assert "Dana Demo (agent 98765)" in properties["hs_call_body"]
    assert properties["hubspot_owner_id"] == "7771"
    assert properties["hs_timestamp"].endswith("Z")
    (association,) = call["associations"]
    assert association == {
        "to": {"id": "501"},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}],
    }
    writeback = the_writeback()
    assert writeback.status == Status.WRITTEN
    assert writeback.crm_record_id == call["id"]
    assert writeback.tries == 1 and writeback.written_at is not None
    assert writeback.lookup_key == attempt.sid


def test_a_failed_call_is_logged_as_failed(crm, demo_data, webhook_settings) -> None:
    webhook_settings.add_fault("http_429", count=3, seconds=0)
    deliver()
    attempt = CallAttempt.objects.get()
    assert attempt.status == "failed"
    (call,) = crm["hubspot"].records
    assert call["properties"]["hs_call_status"] == "FAILED"
    assert call["properties"]["hs_call_title"].startswith("Call not placed")
    assert call["properties"]["hs_call_external_id"].startswith(f"clicktoagent-{attempt.pk}-")
    assert the_writeback().status == Status.WRITTEN


def test_timeout_after_create_is_looked_up_not_created_again(crm, demo_data) -> None:
    hubspot = crm["hubspot"]
    hubspot.add_fault("timeout_after_create", seconds=TIMEOUT * 3)
    deliver()
    writeback = the_writeback()
    assert writeback.status == Status.PENDING and writeback.maybe_written
    assert "may have been logged" in writeback.last_error
    assert len(hubspot.records) == 1  # created, but the answer never came

    writeback = next_try(writeback)
    assert writeback.status == Status.WRITTEN
    assert writeback.crm_record_id == hubspot.records[0]["id"]
    assert len(hubspot.records) == 1
    assert [r["operation"] for r in hubspot.requests] == ["create", "lookup"]


def test_429_is_retried_after_retry_after(crm, demo_data) -> None:
    hubspot = crm["hubspot"]
    hubspot.add_fault("rate_limited", seconds=7)
    before = timezone.now()
    deliver()
    writeback = the_writeback()
    assert writeback.status == Status.PENDING and not writeback.maybe_written
    assert "HTTP 429" in writeback.last_error
    assert writeback.next_try_at is not None
    assert writeback.next_try_at >= before + timedelta(seconds=7)
    assert next_try(writeback).status == Status.WRITTEN
    assert len(hubspot.records) == 1


def test_5xx_and_unreachable_are_retried_with_backoff(crm, demo_data, settings) -> None:
    hubspot = crm["hubspot"]
    hubspot.add_fault("server_error", times=2)
    deliver()
    writeback = next_try(the_writeback())
    assert writeback.status == Status.PENDING and writeback.tries == 2
    assert "HTTP 500" in writeback.last_error
    assert next_try(writeback).status == Status.WRITTEN
    assert len(hubspot.records) == 1 and writeback.tries == 3


def test_an_unreachable_crm_is_retried_then_given_up(crm, demo_data, settings) -> None:
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "HUBSPOT_API_BASE_URL": "http://127.0.0.1:9",  # discard: nothing listens
        "CRM_WRITEBACK_MAX_TRIES": 2,
    }
    deliver()
    writeback = the_writeback()
    assert writeback.status == Status.PENDING and not writeback.maybe_written
    assert "Could not connect to HubSpot" in writeback.last_error
    writeback = next_try(writeback)
    assert writeback.status == Status.FAILED
    assert "Gave up after 2 tries" in writeback.last_error
    assert CallAttempt.objects.get().status == "placed"  # the call itself is untouched


def test_4xx_fails_with_hubspots_message_and_can_be_written_again(crm, demo_data) -> None:
    hubspot = crm["hubspot"]
    hubspot.known = {"contact": {"777"}}
    deliver()
    writeback = the_writeback()
    assert writeback.status == Status.FAILED and writeback.tries == 1
    assert "HubSpot refused the request (HTTP 400)" in writeback.last_error
    assert "VALIDATION_ERROR: No contact with id 501 exists." in writeback.last_error
    assert hubspot.records == []

    hubspot.known = {"contact": {"501"}}
    writeback = crm_writeback_retry(writeback=writeback)
    assert writeback.status == Status.WRITTEN and writeback.tries == 1
    assert len(hubspot.records) == 1


def test_a_refused_token_fails_without_showing_it(crm, demo_data, settings) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "HUBSPOT_ACCESS_TOKEN": "pat-wrong-token"}
    deliver()
    writeback = the_writeback()
    assert writeback.status == Status.FAILED
    assert "HTTP 401" in writeback.last_error
    assert "INVALID_AUTHENTICATION" in writeback.last_error
    assert "pat-wrong-token" not in writeback.last_error
    assert_no_secret(writeback.last_error)


def test_company_deal_and_ticket_refs_use_their_association_types(crm, demo_data) -> None:
    from clicktoagent.services import call_attempt_create

    for object_type, type_id in (("company", 182), ("deal", 206), ("ticket", 220)):
        call_attempt_create(
            queue_id="12345",
            agent_id="98765",
            phone_to_call="3125550123",
            contact_ref=f"hubspot:{object_type}:42",
            source="api",
        )
        (call,) = crm["hubspot"].records_of(object_type, "42")
        assert call["associations"][0]["types"][0]["associationTypeId"] == type_id
