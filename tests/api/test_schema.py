"""The OpenAPI schema: valid, warning-free, and complete for every route and error."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from .conftest import API

OPERATIONS = {
    ("get", "/call-attempts/"): {"200", "400", "401", "403"},
    ("post", "/call-attempts/"): {"200", "201", "202", "400", "401", "403", "409", "429"},
    ("get", "/call-attempts/{id}/"): {"200", "401", "403", "404"},
    ("post", "/call-attempts/{id}/retry/"): {
        "200",
        "201",
        "202",
        "400",
        "401",
        "403",
        "404",
        "409",
        "429",
    },
    ("post", "/call-attempts/{id}/cancel/"): {"200", "401", "403", "404", "409"},
    ("get", "/agents/"): {"200", "400", "401", "403"},
    ("post", "/agents/"): {"201", "400", "401", "403"},
    ("get", "/agents/{agent_id}/"): {"200", "401", "403", "404"},
    ("put", "/agents/{agent_id}/"): {"200", "400", "401", "403", "404"},
    ("patch", "/agents/{agent_id}/"): {"200", "400", "401", "403", "404"},
    ("get", "/queues/"): {"200", "400", "401", "403"},
    ("post", "/queues/"): {"201", "400", "401", "403"},
    ("get", "/queues/{queue_id}/"): {"200", "401", "403", "404"},
    ("put", "/queues/{queue_id}/"): {"200", "400", "401", "403", "404"},
    ("patch", "/queues/{queue_id}/"): {"200", "400", "401", "403", "404"},
    ("post", "/call-checks/"): {"200", "400", "401", "403", "429"},
    ("get", "/do-not-call/"): {"200", "400", "401", "403"},
    ("post", "/do-not-call/"): {"201", "400", "401", "403", "409", "429"},
    ("delete", "/do-not-call/{id}/"): {"204", "401", "403", "404", "429"},
}
# Every operation that may carry a body documents 413 (larger than API_MAX_BODY_BYTES).
for (method, _path), codes in OPERATIONS.items():
    if method != "get":
        codes.add("413")


def test_spectacular_validates_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(out), stderr=StringIO()
    )
    schema = yaml.safe_load(out.read_text())
    assert schema["openapi"].startswith("3.")


@pytest.mark.django_db
def test_the_served_schema_has_every_route_response_and_header() -> None:
    response = APIClient().get(f"{API}/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    found = {
        (method, path.removeprefix(API)): set(operation["responses"])
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    assert found == OPERATIONS
    create = schema["paths"][f"{API}/call-attempts/"]["post"]
    (header,) = [p for p in create["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key"
    assert header["schema"]["maxLength"] == 200
    attempt = schema["components"]["schemas"]["CallAttempt"]
    assert set(attempt["properties"]) == {
        "id",
        "status",
        "queue_id",
        "agent_id",
        "phone_to_call",
        "first_callerid",
        "second_callerid",
        "record",
        "warning",
        "sid",
        "result",
        "result_description",
        "error",
        "contact_ref",
        "source",
        "tries",
        "retry_of",
        "contact_region",
        "outside_hours",
        "violations",
        "adjustments",
        "overridden_rules",
        "override_reason",
        "next_try_at",
        "created_at",
        "dispatched_at",
        "finished_at",
    }
    filters = {p["name"] for p in schema["paths"][f"{API}/call-attempts/"]["get"]["parameters"]}
    assert filters == {
        "status",
        "agent_id",
        "queue_id",
        "phone_to_call",
        "contact_ref",
        "source",
        "created_after",
        "created_before",
        "cursor",
        "page_size",
    }
    assert set(schema["components"]["securitySchemes"]) == {"cookieAuth", "tokenAuth"}
