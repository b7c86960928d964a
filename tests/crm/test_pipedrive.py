"""Pipedrive write-back: a call log on the person, from a basic-auth Pipedrive delivery.
Pipedrive has no lookup, so a lost answer ends ``unknown``, never a second call log."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from clicktoagent.crm.services import crm_writebacks_reconcile
from clicktoagent.models import CallAttempt, CrmUserMapping, CrmWriteback
from clicktoagent.services import call_attempt_create
from tests.crm.conftest import TIMEOUT, next_try, the_writeback
from tests.webhooks.conftest import BASE, basic_auth, json_body, post_json
from tests.webhooks.test_pipedrive import V2_CREATE

pytestmark = pytest.mark.django_db(transaction=True)

PATH = f"{BASE}/pipedrive/?queue_id=12345&agent_id=98765"

Status = CrmWriteback.Status


def deliver(data: dict[str, Any] = V2_CREATE) -> Any:
    response = post_json(Client(), PATH, json_body(data), Authorization=basic_auth())
    assert response.status_code == 200, response.content
    return response


def test_a_placed_call_is_a_call_log_on_the_person(crm, demo_data) -> None:
    CrmUserMapping.objects.create(provider="pipedrive", crm_user_id="4242", agent=demo_data["dana"])
    deliver()
    attempt = CallAttempt.objects.get()
    assert attempt.status == "placed" and attempt.contact_ref == "pipedrive:person:123"
    (log,) = crm["pipedrive"].records_of("person", "123")
    assert log["person_id"] == 123
    assert log["outcome"] == "connected"
    assert log["to_phone_number"] == "+13125550123"
    assert log["user_id"] == 4242
    assert attempt.sid in log["subject"] and attempt.sid in log["note"]
    for name in ("start_time", "end_time"):
        datetime.strptime(log[name], "%Y-%m-%d %H:%M:%S")
    assert "deal_id" not in log
    writeback = the_writeback()
    assert writeback.status == Status.WRITTEN and writeback.crm_record_id == log["id"]


def test_a_deal_in_the_ref_is_logged_with_the_person(crm, demo_data) -> None:
    call_attempt_create(
        queue_id="12345",
        agent_id="98765",
        phone_to_call="3125550123",
        contact_ref="pipedrive:person:7:deal:12",
        source="api",
    )
    (log,) = crm["pipedrive"].records
    assert log["person_id"] == 7 and log["deal_id"] == 12
    assert crm["pipedrive"].records_of("deal", "12")


def test_timeout_after_create_is_unknown_and_never_created_again(crm, demo_data) -> None:
    pipedrive = crm["pipedrive"]
    pipedrive.add_fault("timeout_after_create", seconds=TIMEOUT * 3)
    deliver()
    writeback = the_writeback()
    assert writeback.status == Status.UNKNOWN
    assert "no way to look it up" in writeback.last_error
    assert "check the record's timeline" in writeback.last_error
    assert len(pipedrive.records) == 1

    # Neither the reconciler nor a redelivered task creates it again.
    assert crm_writebacks_reconcile(pending_after=0).requeued == []
    writeback = next_try(writeback)
    assert writeback.status == Status.UNKNOWN
    assert len(pipedrive.records) == 1
    assert [r["operation"] for r in pipedrive.requests] == ["create"]


def test_a_lost_worker_mid_create_is_unknown(crm, demo_data) -> None:
    pipedrive = crm["pipedrive"]
    pipedrive.add_fault("server_error")  # the first try is retried later...
    deliver()
    writeback = the_writeback()
    assert writeback.status == Status.PENDING
    # ...and its next try's worker dies after marking the create as sent.
    CrmWriteback.objects.filter(pk=writeback.pk).update(maybe_written=True)
    assert next_try(writeback).status == Status.UNKNOWN
    assert pipedrive.records == []
    assert [r["operation"] for r in pipedrive.requests] == ["create"]


def test_500_then_written_once(crm, demo_data) -> None:
    pipedrive = crm["pipedrive"]
    pipedrive.add_fault("server_error")
    deliver()
    writeback = the_writeback()
    assert writeback.status == Status.PENDING and "HTTP 500" in writeback.last_error
    # The reconciler picks it up once it is due (immediate backend: no deferred task).
    assert writeback.next_try_at is not None
    time.sleep(max(0.0, (writeback.next_try_at - timezone.now()).total_seconds()) + 0.01)
    call_command("clicktoagent_reconcile", pending_after=0, verbosity=0)
    writeback.refresh_from_db()
    assert writeback.status == Status.WRITTEN
    assert len(pipedrive.records) == 1


def test_a_wrong_token_fails(crm, demo_data, settings) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "PIPEDRIVE_API_TOKEN": "pd-wrong"}
    deliver()
    writeback = the_writeback()
    assert writeback.status == Status.FAILED
    assert "You need to be authorized" in writeback.last_error
    assert "pd-wrong" not in writeback.last_error
