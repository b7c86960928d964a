"""What every CRM write-back shares: when it runs, the contact_ref contract, one activity
under concurrency, the bound on the web request, the reconciler, the admin, settings and
checks, and no secret anywhere."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.checks import run_checks
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone

from clicktoagent.crm.refs import ContactRefError, CrmRecord, parse_contact_ref
from clicktoagent.crm.services import (
    crm_writeback_schedule,
    crm_writeback_write,
    crm_writebacks_reconcile,
)
from clicktoagent.models import CallAttempt, CrmWriteback
from clicktoagent.services import call_attempt_create, call_attempt_dispatch
from clicktoagent.taskcompat import DUMMY_BACKEND, task_backends
from tests.conftest import ROOT, run_together
from tests.crm.conftest import (
    ALL_SECRETS,
    CRM_SECRETS,
    HUBSPOT_TOKEN,
    TIMEOUT,
    assert_no_secret,
    next_try,
    the_writeback,
)
from tests.crm.test_hubspot import deliver as deliver_hubspot

Status = CrmWriteback.Status
LEAD = "00Q5g00000AbCdEAAZ"
CONTACT = "003000000000001"


def place(ref: str, **kwargs: Any) -> CallAttempt:
    attempt = call_attempt_create(
        queue_id="12345",
        agent_id="98765",
        phone_to_call="3125550123",
        contact_ref=ref,
        source="api",
        **kwargs,
    )
    attempt.refresh_from_db()
    return attempt


# -- the contact_ref contract ----------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "record"),
    [
        ("hubspot:contact:501", CrmRecord("hubspot", "contact", "501")),
        ("HubSpot:Deal:9", CrmRecord("hubspot", "deal", "9")),
        ("salesforce:Lead:00Q5g00000AbCdEAAZ", CrmRecord("salesforce", "Lead", LEAD)),
        ("salesforce:contact:003000000000001", CrmRecord("salesforce", "Contact", CONTACT)),
        ("pipedrive:person:7", CrmRecord("pipedrive", "person", "7")),
        ("pipedrive:person:7:deal:12", CrmRecord("pipedrive", "person", "7", deal_id="12")),
        ("pipedrive:deal:12", CrmRecord("pipedrive", "deal", "12")),
        ("crm:lead:42", None),
        ("", None),
        ("Ann Lee", None),
    ],
)
def test_contact_ref_forms(ref: str, record: CrmRecord | None) -> None:
    assert parse_contact_ref(ref) == record


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("hubspot:contact", "hubspot:<object>:<id>"),
        ("hubspot:lead:5", "contact, company, deal, ticket"),
        ("hubspot:contact:abc", "HubSpot record ids are numbers"),
        ("salesforce:Lead:short", "15 or 18 letters and digits"),
        ("salesforce:Lead", "salesforce:<object>:<id>"),
        ("pipedrive:person:7:note:1", "pipedrive:person:<id>:deal:<id>"),
        ("pipedrive:person:x", "Pipedrive ids are numbers"),
    ],
)
def test_malformed_refs_say_what_the_form_is(ref: str, message: str) -> None:
    with pytest.raises(ContactRefError, match=message.replace("<", ".").replace(">", ".")):
        parse_contact_ref(ref)


# -- when a write-back happens ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_no_write_back_without_credentials(webhook_settings, demo_data) -> None:
    deliver_hubspot()
    assert CallAttempt.objects.get().status == "placed"
    assert not CrmWriteback.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_refs_of_other_forms_are_not_written_back(crm, demo_data) -> None:
    place("crm:lead:42")
    place("")
    assert not CrmWriteback.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_malformed_ref_of_a_configured_crm_is_a_failed_write_back(crm, demo_data) -> None:
    place("hubspot:contact:not-a-number")
    writeback = the_writeback()
    assert writeback.status == Status.FAILED and writeback.tries == 0
    assert "HubSpot record ids are numbers" in writeback.last_error
    assert crm["hubspot"].requests == []


@pytest.mark.django_db(transaction=True)
def test_a_second_finish_changes_nothing(crm, demo_data) -> None:
    attempt = place("hubspot:contact:501")
    assert crm_writeback_schedule(attempt=attempt) == the_writeback()
    assert len(crm["hubspot"].records) == 1
    assert CrmWriteback.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_queueing_backend_writes_back_in_its_task_not_in_the_request(
    crm, demo_data, settings
) -> None:
    settings.TASKS = {"default": {"BACKEND": DUMMY_BACKEND}}
    task_backends["default"].clear()  # type: ignore[attr-defined]
    try:
        attempt = place("hubspot:contact:501")
        assert attempt.status == "pending"  # dispatch queued, not run
        call_attempt_dispatch(attempt_id=attempt.pk)  # a worker places the call
        writeback = the_writeback()
        assert writeback.status == Status.PENDING
        assert crm["hubspot"].records == []  # queued, not written in the finishing process
        queued = [r for r in task_backends["default"].results if "write_back" in r.task.name]  # type: ignore[attr-defined]
        assert len(queued) == 1

        crm["hubspot"].add_fault("server_error")
        assert crm_writeback_write(writeback_id=writeback.pk) == Status.PENDING
        retries = [r for r in task_backends["default"].results if "write_back" in r.task.name]  # type: ignore[attr-defined]
        assert len(retries) == 2
        assert retries[-1].task.run_after is not None  # deferred, never a sleep
        writeback.refresh_from_db()
        assert abs((retries[-1].task.run_after - writeback.next_try_at).total_seconds()) < 1
    finally:
        task_backends["default"].clear()  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
def test_a_hanging_crm_holds_the_webhook_response_only_for_the_timeout(crm, demo_data) -> None:
    crm["hubspot"].add_fault("hang", seconds=30)
    started = time.monotonic()
    response = deliver_hubspot()
    elapsed = time.monotonic() - started
    # Generous margins: one request of TIMEOUT seconds, far from the 30 s the CRM hangs.
    assert elapsed < TIMEOUT + 10
    assert response.json()["attempts"][0]["status"] == "placed"
    writeback = the_writeback()
    assert writeback.status == Status.PENDING and writeback.maybe_written


# -- exactly one activity under concurrency --------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_scheduling_a_write_back_is_one_insert_and_its_task(
    crm, demo_data, settings, django_assert_num_queries
) -> None:
    settings.TASKS = {"default": {"BACKEND": DUMMY_BACKEND}}
    attempt = call_attempt_dispatch(attempt_id=place("hubspot:contact:501").pk)
    CrmWriteback.objects.all().delete()
    task_backends["default"].clear()
    # Outside a transaction (a worker): the INSERT alone, no read before it, none after.
    with django_assert_num_queries(1):
        writeback = crm_writeback_schedule(attempt=attempt)
    assert writeback is not None and writeback.status == Status.PENDING
    assert [r.task.name for r in task_backends["default"].results] == ["write_back_call_attempt"]
    # Again (a second finish): the row is found, nothing else is queued.
    assert crm_writeback_schedule(attempt=attempt) == writeback
    assert len(task_backends["default"].results) == 1
    # Inside the caller's transaction: in a savepoint, so a refused INSERT (a third
    # finish) leaves that transaction usable.
    with transaction.atomic():
        # SAVEPOINT, INSERT, ROLLBACK TO and RELEASE, is there one, read it.
        with django_assert_num_queries(6):
            assert crm_writeback_schedule(attempt=attempt) == writeback
        assert CrmWriteback.objects.filter(attempt=attempt).count() == 1
    assert len(task_backends["default"].results) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_finishes_and_tasks_make_one_activity(crm, demo_data, settings) -> None:
    settings.TASKS = {"default": {"BACKEND": DUMMY_BACKEND}}
    try:
        attempts = [place(f"hubspot:contact:{500 + i}") for i in range(3)]
        attempts = [call_attempt_dispatch(attempt_id=attempt.pk) for attempt in attempts]
        assert {attempt.status for attempt in attempts} == {"placed"}
        CrmWriteback.objects.all().delete()

        for attempt in attempts:
            # The finish signal received many times at once (redelivered, duplicated).
            results = run_together(8, lambda a=attempt: crm_writeback_schedule(attempt=a))
            assert not [r for r in results if isinstance(r, Exception)], results
        writebacks = list(CrmWriteback.objects.order_by("pk"))
        assert len(writebacks) == 3
        for writeback in writebacks:
            statuses = run_together(8, lambda w=writeback: crm_writeback_write(writeback_id=w.pk))
            assert statuses.count(Status.WRITTEN) >= 1, statuses
        hubspot = crm["hubspot"]
        for attempt in attempts:
            assert len(hubspot.records_of("contact", attempt.contact_ref.split(":")[2])) == 1
        assert len(hubspot.records) == 3
        assert {w.status for w in CrmWriteback.objects.all()} == {Status.WRITTEN}
    finally:
        task_backends["default"].clear()  # type: ignore[attr-defined]


# -- the reconciler --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_reconciler_writes_back_what_a_lost_task_left_pending(crm, demo_data) -> None:
    crm["hubspot"].add_fault("server_error")
    place("hubspot:contact:501")
    writeback = the_writeback()
    assert writeback.status == Status.PENDING
    CrmWriteback.objects.update(next_try_at=timezone.now() - timedelta(seconds=5))
    assert crm_writebacks_reconcile().requeued == []  # not overdue yet
    report = crm_writebacks_reconcile(pending_after=1)
    assert report.requeued == [writeback.pk]
    writeback.refresh_from_db()
    assert writeback.status == Status.WRITTEN
    assert len(crm["hubspot"].records) == 1


@pytest.mark.django_db(transaction=True)
def test_the_reconciler_closes_write_backs_whose_last_try_was_lost(crm, demo_data) -> None:
    crm["pipedrive"].add_fault("server_error")
    crm["hubspot"].add_fault("server_error")
    place("hubspot:contact:501")
    place("pipedrive:person:7")
    late = timezone.now() - timedelta(hours=1)
    hubspot, pipedrive = CrmWriteback.objects.order_by("pk")
    CrmWriteback.objects.filter(pk=hubspot.pk).update(tries=5, next_try_at=late)
    CrmWriteback.objects.filter(pk=pipedrive.pk).update(
        tries=5, next_try_at=late, maybe_written=True
    )
    call_command("clicktoagent_reconcile", verbosity=0)
    hubspot.refresh_from_db()
    pipedrive.refresh_from_db()
    assert hubspot.status == Status.FAILED and "Gave up after 5 tries" in hubspot.last_error
    assert pipedrive.status == Status.UNKNOWN and "may exist" in pipedrive.last_error


@pytest.mark.django_db(transaction=True)
def test_the_reconcile_command_reports_write_backs(crm, demo_data) -> None:
    import io

    crm["hubspot"].add_fault("server_error")
    place("hubspot:contact:501")
    CrmWriteback.objects.update(next_try_at=timezone.now() - timedelta(hours=1))
    out = io.StringIO()
    call_command("clicktoagent_reconcile", stdout=out)
    assert "CRM write-backs queued again: 1; CRM write-backs given up: 0" in out.getvalue()
    assert the_writeback().status == Status.WRITTEN


# -- admin -----------------------------------------------------------------------------


@pytest.fixture
def admin_web(db: None) -> Client:
    user = User.objects.create_superuser("boss", password="pw-for-tests-only")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db(transaction=True)
def test_admin_column_filter_detail_and_write_back_again(crm, demo_data, admin_web) -> None:
    hubspot = crm["hubspot"]
    hubspot.known = {"contact": set()}
    attempt = place("hubspot:contact:501")
    place("crm:lead:1")
    writeback = the_writeback()
    assert writeback.status == Status.FAILED

    listing = admin_web.get("/admin/clicktoagent/callattempt/")
    html = listing.content.decode()
    assert listing.status_code == 200
    assert "CRM write-back" in html and "clicktoagent-badge-failed" in html
    failed_only = admin_web.get("/admin/clicktoagent/callattempt/?crm_writeback=failed")
    assert failed_only.context["cl"].result_count == 1
    none_only = admin_web.get("/admin/clicktoagent/callattempt/?crm_writeback=none")
    assert none_only.context["cl"].result_count == 1

    page = admin_web.get(f"/admin/clicktoagent/callattempt/{attempt.pk}/change/")
    html = page.content.decode()
    assert "hubspot:contact:501" in html and "No contact with id 501 exists." in html

    hubspot.known = {"contact": {"501"}}
    response = admin_web.post(
        "/admin/clicktoagent/callattempt/",
        {"action": "write_back_again", "_selected_action": [attempt.pk]},
        follow=True,
    )
    assert "1 written" in response.content.decode()
    writeback.refresh_from_db()
    assert writeback.status == Status.WRITTEN
    page = admin_web.get(f"/admin/clicktoagent/callattempt/{attempt.pk}/change/")
    assert writeback.crm_record_id in page.content.decode()
    assert admin_web.get("/admin/clicktoagent/crmwriteback/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_only_failed_write_backs_are_written_again(crm, demo_data, admin_web) -> None:
    attempt = place("hubspot:contact:501")
    response = admin_web.post(
        "/admin/clicktoagent/callattempt/",
        {"action": "write_back_again", "_selected_action": [attempt.pk]},
        follow=True,
    )
    assert "only failed write-backs can be" in response.content.decode()
    assert len(crm["hubspot"].records) == 1


# -- no secret anywhere ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_no_secret_in_logs_rows_admin_or_api(crm, demo_data, admin_web, settings, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    crm["hubspot"].add_fault("unauthorized")
    crm["salesforce"].add_fault("timeout_after_create", seconds=TIMEOUT * 3)
    crm["pipedrive"].add_fault("server_error")
    attempts = [
        place("hubspot:contact:501"),
        place("salesforce:Lead:00Q5g00000AbCdEAAZ"),
        place("pipedrive:person:7"),
    ]
    for writeback in CrmWriteback.objects.filter(status=Status.PENDING):
        next_try(writeback)
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "SALESFORCE_CLIENT_SECRET": "wrong-secret"}
    from clicktoagent.crm.salesforce import forget_tokens

    forget_tokens()
    place("salesforce:Contact:003000000000002AAA")

    texts = [record.getMessage() for record in caplog.records]
    texts += [json.dumps(list(CrmWriteback.objects.values()), default=str)]
    for attempt in attempts:
        texts.append(
            admin_web.get(f"/admin/clicktoagent/callattempt/{attempt.pk}/change/").content.decode()
        )
        texts.append(
            admin_web.get(f"/clicktoagent/api/call-attempts/{attempt.pk}/").content.decode()
        )
    texts.append(admin_web.get("/admin/clicktoagent/crmwriteback/").content.decode())
    texts.append(admin_web.get("/admin/clicktoagent/callattempt/").content.decode())
    for text in texts:
        assert_no_secret(text)
        assert "wrong-secret" not in text
    # The requests did carry them: the stand-ins accepted the right ones.
    assert crm["salesforce"].records and crm["pipedrive"].records
    assert {w.status for w in CrmWriteback.objects.all()} == {Status.WRITTEN, Status.FAILED}


def test_the_log_formatter_masks_the_crm_secrets(settings) -> None:
    from clicktoagent.logging import RedactingFormatter

    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
        "SALESFORCE_CLIENT_SECRET": CRM_SECRETS[1],
        "PIPEDRIVE_API_TOKEN": CRM_SECRETS[2],
    }
    record = logging.LogRecord(
        "clicktoagent.crm", logging.ERROR, __file__, 1, "bug: %s", (" ".join(CRM_SECRETS),), None
    )
    line = RedactingFormatter("%(message)s").format(record)
    for secret in ALL_SECRETS:
        assert secret not in line


# -- settings and checks ---------------------------------------------------------------


def test_every_setting_comes_from_the_environment_variable_of_its_name() -> None:
    env = {
        "HUBSPOT_ACCESS_TOKEN": "pat-env",
        "HUBSPOT_API_BASE_URL": "https://hubspot.example.com",
        "SALESFORCE_INSTANCE_URL": "https://acme.my.salesforce.com",
        "SALESFORCE_CLIENT_ID": "client-id-env",
        "SALESFORCE_CLIENT_SECRET": "client-secret-env",
        "SALESFORCE_API_VERSION": "64.0",
        "PIPEDRIVE_API_TOKEN": "pd-env",
        "PIPEDRIVE_API_BASE_URL": "https://pipedrive.example.com",
        "CRM_WRITEBACK_TIMEOUT": "7.5",
        "CRM_WRITEBACK_MAX_TRIES": "3",
    }
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{k: settings.CLICKTOAGENT[k] for k in {sorted(env)!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    values = json.loads(result.stdout)
    assert values == {**env, "CRM_WRITEBACK_TIMEOUT": 7.5, "CRM_WRITEBACK_MAX_TRIES": 3}


def test_checks_report_half_configured_salesforce_and_bad_values(settings, db) -> None:
    # db: Django 6.1's model checks ask SQLite whether it supports JSON fields.
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "SALESFORCE_INSTANCE_URL": "https://acme.my.salesforce.com",
        "CRM_WRITEBACK_TIMEOUT": 0,
        "CRM_WRITEBACK_MAX_TRIES": 0,
        "PIPEDRIVE_API_TOKEN": "pd",
        "PIPEDRIVE_API_BASE_URL": "http://pipedrive.example.com",
    }
    ids = {message.id for message in run_checks()}
    assert {"clicktoagent.W301", "clicktoagent.E301", "clicktoagent.E302"} <= ids
    assert "clicktoagent.W302" in ids  # plain http to another machine


def test_checks_say_nothing_while_write_back_is_off(db) -> None:
    ids = {message.id or "" for message in run_checks()}
    assert not {i for i in ids if i.startswith(("clicktoagent.E30", "clicktoagent.W30"))}


# -- only the configured base URLs -----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_proxies_from_the_environment_are_ignored(crm, demo_data, monkeypatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens: would fail
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    place("hubspot:contact:501")
    place("salesforce:Lead:00Q5g00000AbCdEAAZ")
    place("pipedrive:person:7")
    assert {w.status for w in CrmWriteback.objects.all()} == {Status.WRITTEN}


@pytest.mark.django_db(transaction=True)
def test_redirects_are_never_followed(crm, demo_data, settings) -> None:
    from tests.webhooks.conftest import serve_callbacks

    with serve_callbacks() as target, serve_callbacks() as redirector:
        redirector.statuses = [307, 307]
        redirector.redirect_to = target.url
        base = f"http://127.0.0.1:{redirector.port}"
        settings.CLICKTOAGENT = {
            **settings.CLICKTOAGENT,
            "HUBSPOT_API_BASE_URL": base,
            "PIPEDRIVE_API_BASE_URL": base,
        }
        place("hubspot:contact:501")
        place("pipedrive:person:7")
        assert len(redirector.received) == 2
        assert target.received == []  # the credentials never went elsewhere
    for writeback in CrmWriteback.objects.all():
        assert writeback.status == Status.FAILED
        assert "redirect (HTTP 307)" in writeback.last_error
        assert "not followed" in writeback.last_error
