"""Fixtures of the CRM write-back: the three stand-ins on loopback, settings that turn
each provider's write-back on, and helpers to run a write-back's next try."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from clicktoagent.crm.salesforce import forget_tokens
from clicktoagent.crm.services import crm_writeback_write
from clicktoagent.crm.standins import HubSpotStandIn, PipedriveStandIn, SalesforceStandIn
from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CrmWriteback
from tests.webhooks.conftest import SECRETS as WEBHOOK_SECRETS
from tests.webhooks.conftest import webhook_settings  # noqa: F401  (a fixture used here)

HUBSPOT_TOKEN = "pat-na1-7c1e2f9a-4b6d-4e0f-8a3b-5d2c9e1f0a7b"
SALESFORCE_CLIENT_ID = "3MVG9standinConsumerKey.for.tests"
SALESFORCE_CLIENT_SECRET = "sf-consumer-secret-A1b2C3d4E5f6G7h8"
PIPEDRIVE_TOKEN = "pd-api-token-0f9e8d7c6b5a4f3e2d1c"
CRM_SECRETS = (HUBSPOT_TOKEN, SALESFORCE_CLIENT_SECRET, PIPEDRIVE_TOKEN)
ALL_SECRETS = CRM_SECRETS + WEBHOOK_SECRETS
TIMEOUT = 1.0  # CRM_WRITEBACK_TIMEOUT in these tests


@pytest.fixture(scope="session")
def _hubspot_server() -> Iterator[HubSpotStandIn]:
    with HubSpotStandIn(token=HUBSPOT_TOKEN) as server:
        yield server


@pytest.fixture(scope="session")
def _salesforce_server() -> Iterator[SalesforceStandIn]:
    with SalesforceStandIn(
        client_id=SALESFORCE_CLIENT_ID, client_secret=SALESFORCE_CLIENT_SECRET
    ) as server:
        yield server


@pytest.fixture(scope="session")
def _pipedrive_server() -> Iterator[PipedriveStandIn]:
    with PipedriveStandIn(token=PIPEDRIVE_TOKEN) as server:
        yield server


@pytest.fixture
def crm(
    webhook_settings: SandboxServer,  # noqa: F811  (the fixture imported above)
    settings: Any,
    _hubspot_server: HubSpotStandIn,
    _salesforce_server: SalesforceStandIn,
    _pipedrive_server: PipedriveStandIn,
) -> Iterator[dict[str, Any]]:
    """Every webhook endpoint and every CRM's write-back configured, against stand-ins."""
    servers: dict[str, Any] = {
        "hubspot": _hubspot_server,
        "salesforce": _salesforce_server,
        "pipedrive": _pipedrive_server,
    }
    for server in servers.values():
        server.reset()
        server.known = None
    _salesforce_server.expire_tokens()
    forget_tokens()
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
        "HUBSPOT_API_BASE_URL": _hubspot_server.url,
        "SALESFORCE_INSTANCE_URL": _salesforce_server.url,
        "SALESFORCE_CLIENT_ID": SALESFORCE_CLIENT_ID,
        "SALESFORCE_CLIENT_SECRET": SALESFORCE_CLIENT_SECRET,
        "PIPEDRIVE_API_TOKEN": PIPEDRIVE_TOKEN,
        "PIPEDRIVE_API_BASE_URL": _pipedrive_server.url,
        "CRM_WRITEBACK_TIMEOUT": TIMEOUT,
        "CRM_WRITEBACK_MAX_TRIES": 5,
    }
    yield servers
    for server in servers.values():
        server.reset()
    forget_tokens()


def the_writeback() -> CrmWriteback:
    (writeback,) = CrmWriteback.objects.all()
    return writeback


def next_try(writeback: CrmWriteback) -> CrmWriteback:
    """Run the write-back's next try now, as its deferred task or the reconciler would."""
    CrmWriteback.objects.filter(pk=writeback.pk).update(
        next_try_at=timezone.now() - timedelta(seconds=1)
    )
    crm_writeback_write(writeback_id=writeback.pk)
    writeback.refresh_from_db()
    return writeback


def assert_no_secret(text: str) -> None:
    for secret in ALL_SECRETS:
        assert secret not in text, "a secret leaked"
