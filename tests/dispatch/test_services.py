"""Sending attempts through the real emulator: outcomes, retries, deadlines, stalled
workers, and the outcome copied onto the contact."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.dispatch import services as dispatch_services
from clicktoagent.models import CallAttempt
from clicktoagent.services import (
    call_attempt_dispatch,
    call_attempt_reconcile,
)
from clicktoagent.signals import call_attempt_finished
from config.demo.models import Contact
from tests.conftest import create_call

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallAttempt.Status


def test_placed_call_stores_sid_and_what_was_sent(sandbox: SandboxServer, demo_data) -> None:
    attempt = create_call(first_callerid="312-555-0100", record=1, warning=2)
    assert attempt.status == Status.PLACED
    (seen,) = sandbox.requests()
    assert attempt.sid == seen["sid"]
    assert attempt.result == "success"
    assert attempt.result_description == "Request Processed"
    assert attempt.phone_to_call == "3125550123"
    assert attempt.first_callerid == "3125550100"
    assert (attempt.record, attempt.warning) == (1, 2)
    assert seen["params"]["record"] == "1" and seen["params"]["warning"] == "2"
    assert attempt.tries == 1
    assert attempt.dispatched_at is not None and attempt.finished_at is not None
    assert sandbox.agent_mode("98765") == "Outbound"


def test_refused_call_keeps_dialogtechs_words(sandbox: SandboxServer, demo_data) -> None:
    attempt = create_call(queue_id="12346", agent_id="98767")
    assert attempt.status == Status.FAILED
    assert attempt.result == "failed"
    assert "Closed" in attempt.result_description
    assert attempt.sid == ""


def test_unregistered_caller_id_is_refused_by_dialogtech(sandbox: SandboxServer, demo_data) -> None:
    attempt = create_call(first_callerid="312-555-0177")
    assert attempt.status == Status.FAILED
    assert "first_callerid" in attempt.result_description


@pytest.mark.parametrize("phone", ["3125550166", "3125550167", "3125550168", "3125550169"])
def test_no_usable_answer_is_unknown_and_never_retried(
    sandbox: SandboxServer, demo_data, settings, phone: str
) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "READ_TIMEOUT": 0.3}
    attempt = create_call(phone_to_call=phone)
    assert attempt.status == Status.UNKNOWN
    assert attempt.tries == 1
    assert "may have been placed" in attempt.error or "could not be read" in attempt.error
    assert len(sandbox.requests()) == 1


def test_never_sent_is_retried_with_backoff(sandbox: SandboxServer, demo_data) -> None:
    sandbox.add_fault("http_503", count=2, seconds=0)
    attempt = create_call()
    assert attempt.status == Status.PLACED
    assert attempt.tries == 3
    assert [r["status"] for r in sandbox.requests()] == [503, 503, 200]


def test_never_sent_gives_up_after_max_tries(sandbox: SandboxServer, demo_data, settings) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "MAX_TRIES": 2}
    sandbox.add_fault("http_429", count=5, seconds=0)
    attempt = create_call()
    assert attempt.status == Status.FAILED
    assert attempt.tries == 2
    assert "Gave up after 2 tries" in attempt.error
    assert len(sandbox.requests()) == 2


def test_unreachable_dialogtech_fails_after_retries(demo_data, settings) -> None:
    settings.CLICKTOAGENT = {
        "BASE_URL": "http://127.0.0.1:9/ibp_api.php",
        "ACCESS_KEY": "k",
        "SECRET_ACCESS_KEY": "s",
        "RETRY_BACKOFF": 0.01,
    }
    attempt = create_call()
    assert attempt.status == Status.FAILED
    assert attempt.tries == 3
    assert "Could not connect" in attempt.error


def test_missing_credentials_fail_the_attempt_with_a_reason(demo_data, settings) -> None:
    settings.CLICKTOAGENT = {"BASE_URL": "http://127.0.0.1:9/ibp_api.php"}
    attempt = create_call()
    assert attempt.status == Status.FAILED
    assert "credentials are missing" in attempt.error


def test_dispatch_runs_at_most_once(sandbox: SandboxServer, demo_data) -> None:
    attempt = create_call()
    again = call_attempt_dispatch(attempt_id=attempt.pk)
    assert again.status == Status.PLACED
    assert again.tries == 1
    assert len(sandbox.requests()) == 1


@pytest.mark.parametrize("fault", ["dtd_utf8", "dtd_utf16le", "dtd_utf16be", "dtd_utf32"])
def test_answer_declaring_a_dtd_is_unknown_in_any_encoding(
    sandbox: SandboxServer, demo_data, fault: str
) -> None:
    # DialogTech placed the call but its answer is refused: never counted as placed.
    sandbox.add_fault(fault)
    attempt = create_call()
    assert attempt.status == Status.UNKNOWN
    assert attempt.sid == ""
    assert "declares a DTD or entities" in attempt.error
    (seen,) = sandbox.requests()
    assert seen["fault"] == fault and seen["sid"]


def test_finished_signal_and_contact_fields(sandbox: SandboxServer, demo_data) -> None:
    contact = Contact.objects.create(name="Ada", phone="(312) 555-0123")
    received: list[CallAttempt] = []

    def receiver(sender: Any, attempt: CallAttempt, **kwargs: Any) -> None:
        received.append(attempt)

    call_attempt_finished.connect(receiver)
    try:
        attempt = create_call(contact=contact)
    finally:
        call_attempt_finished.disconnect(receiver)
    assert [a.pk for a in received] == [attempt.pk]
    assert received[0].status == Status.PLACED
    contact.refresh_from_db()
    assert contact.last_call_sid == attempt.sid
    assert contact.last_call_status == "placed"
    assert contact.last_call_result == "Request Processed"
    assert contact.last_called_at == attempt.finished_at
    assert attempt.contact == contact


def test_contact_fields_for_a_failed_call(sandbox: SandboxServer, demo_data) -> None:
    contact = Contact.objects.create(name="Casey's lead", phone="3125550124")
    create_call(queue_id="12346", agent_id="98767", contact=contact, contact_ref="crm:1")
    contact.refresh_from_db()
    assert contact.last_call_status == "failed"
    assert "Closed" in contact.last_call_result
    assert contact.last_call_sid == ""


def test_long_retry_after_is_left_to_the_reconciler_with_the_immediate_backend(
    sandbox: SandboxServer, demo_data
) -> None:
    sandbox.add_fault("http_503", seconds=30)
    attempt = create_call()
    assert attempt.status == Status.PENDING
    assert attempt.next_try_at is not None
    assert 25 < (attempt.next_try_at - timezone.now()).total_seconds() <= 30
    assert len(sandbox.requests()) == 1


def test_contact_that_cannot_take_the_outcome_never_loses_it(
    sandbox: SandboxServer, demo_data, settings, caplog: pytest.LogCaptureFixture
) -> None:
    # A sid is not a date: the copy fails, the attempt's own outcome stays recorded.
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "CONTACT_FIELDS": {"sid": "last_called_at"}}
    contact = Contact.objects.create(name="Ada", phone="3125550123")
    attempt = create_call(contact=contact)
    assert attempt.status == Status.PLACED
    assert attempt.sid
    assert "could not copy the outcome" in caplog.text


def test_failing_signal_receiver_never_undoes_the_outcome(
    sandbox: SandboxServer, demo_data, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(sender: Any, attempt: CallAttempt, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    call_attempt_finished.connect(broken)
    try:
        attempt = create_call()
    finally:
        call_attempt_finished.disconnect(broken)
    assert attempt.status == Status.PLACED
    assert "receiver" in caplog.text and "RuntimeError" in caplog.text


# --------------------------------------------------------------------------- deadlines


def test_trickling_answer_ends_unknown_at_the_total_deadline(
    sandbox: SandboxServer, demo_data, settings
) -> None:
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "CONNECT_TIMEOUT": 0.5,
        "READ_TIMEOUT": 1.0,
        "TOTAL_TIMEOUT": 1.5,
    }
    sandbox.add_fault("trickle", seconds=0.3)  # one byte every 0.3 s: over 30 s in all
    started = time.monotonic()
    attempt = create_call()
    assert time.monotonic() - started < 10
    assert attempt.status == Status.UNKNOWN and attempt.tries == 1
    assert "did not answer completely within the total timeout of 1.5 s" in attempt.error
    assert "may have been placed" in attempt.error
    assert len(sandbox.requests()) == 1


@pytest.fixture
def stall_after_claim(monkeypatch) -> Iterator[Callable[..., None]]:
    """The worker freezes between its claim and the request: when it resumes, the clock
    says ``seconds`` later (and, with ``reconcile``, the reconciler ran meanwhile)."""
    travels: list[Any] = []

    def stall(attempt: CallAttempt, seconds: float, reconcile: bool) -> None:
        real_get_client = dispatch_services.get_client

        def stalled_get_client() -> Any:
            traveller = time_machine.travel(timezone.now() + timedelta(seconds=seconds))
            traveller.start()
            travels.append(traveller)
            if reconcile:
                call_attempt_reconcile()
            return real_get_client()

        monkeypatch.setattr(dispatch_services, "get_client", stalled_get_client)

    yield stall
    for traveller in reversed(travels):
        traveller.stop()


# The sandbox fixture's connect (1 s) + read (2 s) timeouts, and the default margin (30 s).
CUTOFF = 1.0 + 2.0 + 30.0


@pytest.mark.parametrize("stalled", [30.5, CUTOFF + 1])
def test_worker_stalled_after_its_claim_never_sends(
    sandbox: SandboxServer, demo_data, stall_after_claim, stalled: float
) -> None:
    finished: list[CallAttempt] = []
    receiver = lambda attempt, **kwargs: finished.append(attempt)  # noqa: E731
    call_attempt_finished.connect(receiver, weak=False)
    attempt = create_call(dispatch=False)
    stall_after_claim(attempt, stalled, reconcile=False)
    try:
        result = call_attempt_dispatch(attempt_id=attempt.pk)
    finally:
        call_attempt_finished.disconnect(receiver)
    assert sandbox.requests() == []
    # Nothing left the process: the attempt fails as never sent, so a retry is safe.
    assert result.status == Status.FAILED and result.sid == ""
    assert "The contact was not called" in result.error and "30 s" in result.error
    assert [a.pk for a in finished] == [attempt.pk]
    # The reconciler finds nothing left to do.
    assert call_attempt_reconcile().marked_unknown == []


def test_worker_resuming_after_the_reconciler_gave_up_leaves_it_unknown(
    sandbox: SandboxServer, demo_data, stall_after_claim
) -> None:
    attempt = create_call(dispatch=False)
    stall_after_claim(attempt, CUTOFF + 1, reconcile=True)
    result = call_attempt_dispatch(attempt_id=attempt.pk)
    assert sandbox.requests() == []
    assert result.status == Status.UNKNOWN
    assert "the worker was lost" in result.error


def test_reconciler_cutoff_follows_the_total_timeout(demo_data, settings) -> None:
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "CONNECT_TIMEOUT": 1.0,
        "READ_TIMEOUT": 2.0,
        "TOTAL_TIMEOUT": 10.0,
        "RECONCILE_DISPATCHING_MARGIN": 5.0,
    }
    in_flight = create_call(dispatch=False)
    lost = create_call(dispatch=False)
    now = timezone.now()
    CallAttempt.objects.filter(pk=in_flight.pk).update(
        status=Status.DISPATCHING, dispatched_at=now - timedelta(seconds=12)
    )
    CallAttempt.objects.filter(pk=lost.pk).update(
        status=Status.DISPATCHING, dispatched_at=now - timedelta(seconds=16)
    )
    report = call_attempt_reconcile(pending_after=3600)
    assert report.marked_unknown == [lost.pk]
    in_flight.refresh_from_db()
    assert in_flight.status == Status.DISPATCHING
