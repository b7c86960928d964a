"""Failed webhook authentications are limited per client address, across endpoints."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from clicktoagent.models import ThrottleCounter, WebhookEvent
from tests.webhooks.conftest import (
    BASE,
    PIPEDRIVE_PASSWORD,
    PIPEDRIVE_USER,
    SECRETS,
    basic_auth,
    json_body,
    post_json,
)
from tests.webhooks.test_pipedrive import PATH, V2_CREATE

pytestmark = pytest.mark.django_db(transaction=True)

ATTACKER = "203.0.113.7"
WRONG_PASSWORD = "guess-number-0042"


def deliver(*, password: str = PIPEDRIVE_PASSWORD, address: str = ATTACKER) -> Any:
    client = Client(REMOTE_ADDR=address)
    auth = basic_auth(password=password)
    return post_json(client, PATH, json_body(V2_CREATE), Authorization=auth)


def test_the_21st_failure_in_a_minute_gets_429_even_with_the_right_password(
    webhook_settings, demo_data, caplog
) -> None:
    for _ in range(20):
        assert deliver(password=WRONG_PASSWORD).status_code == 401
    refused = deliver()  # the right credential, but the address is over the limit
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    body = refused.json()
    assert body["status"] == "throttled"
    assert "Too many failed authentications" in body["error"]
    assert "WEBHOOK_AUTH_FAILURES_PER_MINUTE" in body["error"]
    assert deliver(password=WRONG_PASSWORD).status_code == 429
    assert not WebhookEvent.objects.exists()
    assert webhook_settings.requests() == []
    # Another address is not affected.
    other = deliver(address="198.51.100.20")
    assert other.status_code == 200 and other.json()["status"] == "processed"
    assert len(webhook_settings.requests()) == 1
    # Logged once when the address reached the limit, without any credential.
    assert caplog.text.count("failed to authenticate 20 times within a minute") == 1
    assert ATTACKER in caplog.text
    for secret in (*SECRETS, WRONG_PASSWORD, PIPEDRIVE_USER):
        assert secret not in caplog.text


def test_the_address_may_try_again_once_its_window_ends(webhook_settings, demo_data) -> None:
    for _ in range(20):
        deliver(password=WRONG_PASSWORD)
    assert deliver().status_code == 429
    ThrottleCounter.objects.update(expires_at=time.time() - 1)
    assert deliver().status_code == 200


def test_failures_on_every_endpoint_count_together(webhook_settings, demo_data) -> None:
    client = Client(REMOTE_ADDR=ATTACKER)
    for name in ("generic", "hubspot"):
        for _ in range(7):
            response = post_json(client, f"{BASE}/{name}/", b"{}")
            assert response.status_code == 401
    for _ in range(6):
        assert deliver(password=WRONG_PASSWORD).status_code == 401
    assert post_json(client, f"{BASE}/generic/", b"{}").status_code == 429


def test_successful_deliveries_are_not_counted(webhook_settings, demo_data, settings) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "WEBHOOK_AUTH_FAILURES_PER_MINUTE": 2}
    for _ in range(3):
        assert deliver().status_code == 200
    assert deliver(password=WRONG_PASSWORD).status_code == 401
    assert deliver().status_code == 200
    assert deliver(password=WRONG_PASSWORD).status_code == 401
    assert deliver().status_code == 429


def test_zero_turns_the_limit_off(webhook_settings, demo_data, settings) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "WEBHOOK_AUTH_FAILURES_PER_MINUTE": 0}
    for _ in range(25):
        assert deliver(password=WRONG_PASSWORD).status_code == 401
    assert deliver().status_code == 200
    assert not ThrottleCounter.objects.exists()
