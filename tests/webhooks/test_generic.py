"""The Standard Webhooks endpoint: verification, deliveries, replays, callbacks."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from clicktoagent import taskcompat
from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt, WebhookEvent
from tests.webhooks.conftest import (
    BASE,
    WEBHOOK_SECRET,
    CallbackServer,
    generic_headers,
    json_body,
    post_json,
    run_together,
)

pytestmark = pytest.mark.django_db(transaction=True)

URL = f"{BASE}/generic/"
CALL = {"phone_to_call": "(312) 555-0123", "queue_id": "12345", "agent_id": "98765"}

# The Standard Webhooks reference vectors (the specification's libraries' test suite).
REF_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REF_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
REF_TIMESTAMP = 1614265330
REF_PAYLOAD = '{"test": 2432232314}'
REF_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def deliver(client: Client, data: object, *, msg_id: str = "msg_1", **kwargs: Any):
    body = json_body(data)
    return post_json(client, URL, body, **generic_headers(body, msg_id=msg_id, **kwargs))


# -- reference vectors ---------------------------------------------------------------


def test_reference_vector_signature() -> None:
    moment = datetime.fromtimestamp(REF_TIMESTAMP, tz=UTC)
    signature = Webhook(REF_SECRET).sign(msg_id=REF_MSG_ID, timestamp=moment, data=REF_PAYLOAD)
    assert signature == REF_SIGNATURE
    # The same secret without its prefix is the same key.
    unprefixed = Webhook(REF_SECRET.removeprefix("whsec_"))
    assert unprefixed.sign(msg_id=REF_MSG_ID, timestamp=moment, data=REF_PAYLOAD) == REF_SIGNATURE


def test_reference_vector_verification_rules() -> None:
    webhook = Webhook(REF_SECRET)
    now = int(time.time())
    good = generic_headers(REF_PAYLOAD, msg_id=REF_MSG_ID, timestamp=now, secret=REF_SECRET)
    assert webhook.verify(REF_PAYLOAD, good) == {"test": 2432232314}
    rotated = {
        **good,
        "webhook-signature": " ".join(
            [
                "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
                "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
                good["webhook-signature"],
            ]
        ),
    }
    assert webhook.verify(REF_PAYLOAD, rotated) == {"test": 2432232314}
    wrong = {**good, "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="}
    for headers in (
        wrong,
        {k: v for k, v in good.items() if k != "webhook-id"},
        {k: v for k, v in good.items() if k != "webhook-timestamp"},
        {k: v for k, v in good.items() if k != "webhook-signature"},
        {**good, "webhook-timestamp": "hello"},
        # A minute past the 5-minute tolerance: a second ticking during the test stays outside.
        generic_headers(REF_PAYLOAD, msg_id=REF_MSG_ID, timestamp=now - 360, secret=REF_SECRET),
        generic_headers(REF_PAYLOAD, msg_id=REF_MSG_ID, timestamp=now + 360, secret=REF_SECRET),
    ):
        with pytest.raises(WebhookVerificationError):
            webhook.verify(REF_PAYLOAD, headers)


def test_endpoint_accepts_reference_payload_signature(webhook_settings, demo_data) -> None:
    # A freshly timestamped reference delivery authenticates; its body is no call request.
    body = REF_PAYLOAD.encode()
    response = post_json(
        Client(), URL, body, **generic_headers(body, msg_id=REF_MSG_ID, secret=REF_SECRET)
    )
    assert response.status_code == 400
    assert "Unknown field(s) test" in response.json()["error"]
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.REJECTED
    assert event.delivery_id == REF_MSG_ID


def test_endpoint_refuses_the_reference_vector_as_too_old(webhook_settings, demo_data) -> None:
    headers = {
        "webhook-id": REF_MSG_ID,
        "webhook-timestamp": str(REF_TIMESTAMP),
        "webhook-signature": REF_SIGNATURE,
    }
    response = post_json(Client(), URL, REF_PAYLOAD.encode(), **headers)
    assert response.status_code == 401
    assert "too old" in response.json()["error"]
    assert not WebhookEvent.objects.exists()


# -- deliveries ----------------------------------------------------------------------


def test_valid_delivery_places_the_call(webhook_settings: SandboxServer, demo_data) -> None:
    response = deliver(Client(), {**CALL, "contact_ref": "crm:lead:42"}, msg_id="msg_valid")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["status"] == "processed"
    attempt = CallAttempt.objects.get()
    assert data["attempts"] == [{"id": attempt.pk, "status": "placed"}]
    assert attempt.source == CallAttempt.Source.WEBHOOK
    assert attempt.contact_ref == "crm:lead:42"
    assert attempt.idempotency_key == "webhook:generic:msg_valid:0"
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert list(event.attempts.all()) == [attempt]
    assert json.loads(event.body) == {**CALL, "contact_ref": "crm:lead:42"}
    assert "webhook-signature" not in {k.lower() for k in event.headers}
    requests = webhook_settings.requests()
    assert len(requests) == 1
    assert requests[0]["params"]["phone_to_call"] == "3125550123"
    assert requests[0]["params"]["agent_id"] == "98765"


def test_queue_and_agent_default_from_the_url_query(webhook_settings, demo_data) -> None:
    body = json_body({"phone_to_call": "3125550123"})
    response = post_json(
        Client(), f"{URL}?queue_id=12345&agent_id=98766", body, **generic_headers(body)
    )
    assert response.status_code == 200, response.content
    attempt = CallAttempt.objects.get()
    assert (attempt.queue.queue_id, attempt.agent.agent_id) == ("12345", "98766")


def test_key_rotation_any_listed_signature_counts(webhook_settings, demo_data) -> None:
    body = json_body(CALL)
    headers = generic_headers(body, msg_id="msg_rotated")
    old_key = generic_headers(body, msg_id="msg_rotated", secret="whsec_b2xkLXNlY3JldC1vbGQta2V5")
    headers["webhook-signature"] = f"{old_key['webhook-signature']} {headers['webhook-signature']}"
    assert post_json(Client(), URL, body, **headers).status_code == 200


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "missing_signature", "missing_id", "garbage_signature", "changed_body"],
)
def test_bad_signatures_are_refused_and_not_stored(webhook_settings, demo_data, caplog, tamper):
    body = json_body(CALL)
    headers = generic_headers(body)
    if tamper == "wrong_secret":
        headers = generic_headers(body, secret="whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==")
    elif tamper == "missing_signature":
        del headers["webhook-signature"]
    elif tamper == "missing_id":
        del headers["webhook-id"]
    elif tamper == "garbage_signature":
        headers["webhook-signature"] = "not-a-signature"
    elif tamper == "changed_body":
        body = json_body({**CALL, "phone_to_call": "3125550124"})
    response = post_json(Client(), URL, body, **headers)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert not CallAttempt.objects.exists()
    assert "refused a delivery" in caplog.text
    assert WEBHOOK_SECRET.removeprefix("whsec_") not in caplog.text
    assert "3125550123" not in caplog.text  # the body is not logged


@pytest.mark.parametrize("offset", [-360, 360])
def test_stale_and_future_timestamps_are_refused(webhook_settings, demo_data, offset) -> None:
    response = deliver(Client(), CALL, timestamp=time.time() + offset)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_replayed_delivery_is_stored_as_duplicate_and_not_dialled(
    webhook_settings: SandboxServer, demo_data
) -> None:
    client = Client()
    first = deliver(client, CALL, msg_id="msg_replay")
    second = deliver(client, CALL, msg_id="msg_replay")
    assert first.status_code == second.status_code == 200
    assert second.json()["status"] == "duplicate"
    assert second.json()["original_event_id"] == first.json()["event_id"]
    assert second.json()["attempts"] == first.json()["attempts"]
    assert CallAttempt.objects.count() == 1
    assert len(webhook_settings.requests()) == 1
    statuses = sorted(WebhookEvent.objects.values_list("status", flat=True))
    assert statuses == ["duplicate", "processed"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (json_body({**CALL, "phone_to_call": ""}), "phone_to_call"),
        (json_body({**CALL, "phone_to_call": "12"}), "phone_to_call"),
        (json_body({**CALL, "agent_id": "55555"}), "Unknown agent_id"),
        (json_body({**CALL, "record": "yes"}), "record"),
        (json_body({**CALL, "callback_url": "ftp://example.com/x"}), "callback_url"),
    ],
)
def test_unusable_deliveries_are_recorded_as_rejected(
    webhook_settings: SandboxServer, demo_data, body: bytes, message: str
) -> None:
    response = post_json(Client(), URL, body, **generic_headers(body))
    assert response.status_code == 400
    assert response.json()["status"] == "rejected"
    assert message in response.json()["error"]
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.REJECTED
    assert message in event.error
    assert event.body == body.decode()
    assert not CallAttempt.objects.exists()
    assert webhook_settings.requests() == []


# -- results back ----------------------------------------------------------------------


def test_callback_receives_the_signed_outcome(
    webhook_settings, demo_data, callback_server: CallbackServer
) -> None:
    response = deliver(
        Client(), {**CALL, "callback_url": callback_server.url}, msg_id="msg_with_callback"
    )
    assert response.status_code == 200
    received = callback_server.wait_for(1)
    assert len(received) == 1
    request = received[0]
    payload = Webhook(WEBHOOK_SECRET).verify(request["body"], request["headers"])
    attempt = CallAttempt.objects.get()
    assert payload["type"] == "call_attempt.finished"
    assert payload["data"]["attempt_id"] == attempt.pk
    assert payload["data"]["status"] == "placed"
    assert payload["data"]["sid"] == attempt.sid != ""
    assert payload["data"]["webhook_id"] == "msg_with_callback"
    event = WebhookEvent.objects.get()
    assert event.callback_status == WebhookEvent.CallbackStatus.DELIVERED
    assert event.callback_tries == 1
    # A tampered callback fails verification: the signature covers the body.
    with pytest.raises(WebhookVerificationError):
        Webhook(WEBHOOK_SECRET).verify(request["body"] + b" ", request["headers"])


def test_callback_reports_a_failed_call(webhook_settings, demo_data, callback_server) -> None:
    # Agent 98767 is Closed in the sandbox: DialogTech refuses the call.
    deliver(
        Client(),
        {
            "phone_to_call": "3125550123",
            "queue_id": "12346",
            "agent_id": "98767",
            "callback_url": callback_server.url,
        },
    )
    request = callback_server.wait_for(1)[0]
    payload = Webhook(WEBHOOK_SECRET).verify(request["body"], request["headers"])
    assert payload["data"]["status"] == "failed"
    assert payload["data"]["result_description"]


def _run_reconciler_when_due() -> None:
    from clicktoagent.webhooks.tasks import webhook_callbacks_reconcile

    event = WebhookEvent.objects.get()
    assert event.callback_next_try_at is not None
    while timezone.now() <= event.callback_next_try_at:
        time.sleep(0.01)
    webhook_callbacks_reconcile(pending_after=0)


def test_callback_is_retried_with_backoff(webhook_settings, demo_data, callback_server) -> None:
    callback_server.statuses = [500, 503]
    deliver(Client(), {**CALL, "callback_url": callback_server.url}, msg_id="msg_retry")
    # One try during the webhook request; with the immediate backend the retries are
    # the reconciler's, never a wait inside the request.
    assert [r["status"] for r in callback_server.received] == [500]
    event = WebhookEvent.objects.get()
    assert (event.callback_status, event.callback_tries) == ("pending", 1)
    _run_reconciler_when_due()
    _run_reconciler_when_due()
    received = callback_server.wait_for(3)
    assert [r["status"] for r in received] == [500, 503, 200]
    # Every try is the same message (same id), freshly signed.
    assert len({r["headers"]["webhook-id"] for r in received}) == 1
    for request in received:
        Webhook(WEBHOOK_SECRET).verify(request["body"], request["headers"])
    event = WebhookEvent.objects.get()
    assert event.callback_status == WebhookEvent.CallbackStatus.DELIVERED
    assert event.callback_tries == 3


def test_callback_gives_up_after_max_tries(
    webhook_settings, settings, demo_data, callback_server
) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "WEBHOOK_CALLBACK_MAX_TRIES": 2}
    callback_server.statuses = [500, 500, 500]
    response = deliver(Client(), {**CALL, "callback_url": callback_server.url})
    assert response.status_code == 200
    _run_reconciler_when_due()
    assert len(callback_server.wait_for(2)) == 2
    event = WebhookEvent.objects.get()
    assert event.callback_status == WebhookEvent.CallbackStatus.FAILED
    assert event.callback_error == "The callback URL answered HTTP 500."
    # The call itself is unaffected.
    assert CallAttempt.objects.get().status == CallAttempt.Status.PLACED


# -- concurrency ---------------------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_duplicates_make_one_event_one_attempt_one_call(
    webhook_settings: SandboxServer, demo_data
) -> None:
    webhook_settings.add_fault("latency", seconds=0.2)
    body = json_body(CALL)
    headers = generic_headers(body, msg_id="msg_concurrent")
    results = run_together(8, lambda: post_json(Client(), URL, body, **headers))
    assert all(not isinstance(r, Exception) for r in results), results
    assert sorted(r.status_code for r in results) == [200] * 8
    assert sum(r.json()["status"] == "processed" for r in results) == 1
    assert WebhookEvent.objects.filter(holds_delivery_id=True).count() == 1
    assert WebhookEvent.objects.filter(status="duplicate").count() == 7
    assert CallAttempt.objects.count() == 1
    assert len(webhook_settings.requests()) == 1


# -- with a queueing task backend ------------------------------------------------------


def test_queueing_backend_dials_after_the_response_and_defers_callback_retries(
    webhook_settings: SandboxServer, settings, demo_data, callback_server: CallbackServer
) -> None:
    from clicktoagent.services import call_attempt_dispatch
    from clicktoagent.taskcompat import task_backends
    from clicktoagent.webhooks.tasks import webhook_callback_deliver

    settings.TASKS = {"default": {"BACKEND": taskcompat.DUMMY_BACKEND}}
    backend = task_backends["default"]
    response = deliver(Client(), {**CALL, "callback_url": callback_server.url}, msg_id="msg_q")
    assert response.status_code == 200
    attempt = CallAttempt.objects.get()
    # Answered before the call: the dispatch waits in the queue.
    assert response.json()["attempts"] == [{"id": attempt.pk, "status": "pending"}]
    assert webhook_settings.requests() == []
    assert [r.task.name for r in backend.results] == ["dispatch_call_attempt"]

    call_attempt_dispatch(attempt_id=attempt.pk)  # what a worker does
    assert len(webhook_settings.requests()) == 1
    queued = backend.results[-1]
    assert queued.task.name == "deliver_webhook_callback"
    assert WebhookEvent.objects.get().callback_status == WebhookEvent.CallbackStatus.PENDING

    callback_server.statuses = [500]
    # A retry 0.25 to 0.5 s later, so the early run below is certainly early.
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "WEBHOOK_CALLBACK_BACKOFF": 0.5}
    assert webhook_callback_deliver(**queued.kwargs) == "pending"
    retry = backend.results[-1]
    assert retry.task.name == "deliver_webhook_callback"
    assert retry.task.run_after is not None and retry.task.run_after > retry.enqueued_at
    # Run before its time (e.g. a duplicate task), it sends nothing.
    assert webhook_callback_deliver(**retry.kwargs) == "pending"
    assert len(callback_server.received) == 1
    while timezone.now() <= retry.task.run_after:
        time.sleep(0.01)
    assert webhook_callback_deliver(**retry.kwargs) == "delivered"
    assert [r["status"] for r in callback_server.received] == [500, 200]
