"""Property-based run of the API against its own schema, on a live server.

Schemathesis (its ``st run`` command) reads the schema from /clicktoagent/api/schema/
and sends generated requests, valid and invalid, to every operation as a user holding
every permission. Created attempts really dial the DialogTech emulator. No response may
be a 5xx, and every documented response must conform to the schema.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.servers.basehttp import ServerHandler, WSGIRequestHandler
from rest_framework.authtoken.models import Token

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt, DoNotCallEntry

from .conftest import ALL_PERMISSIONS, API

MAX_EXAMPLES = 25
TIME_LIMIT = 240  # seconds for the whole run (40-60 s on an idle machine)
SEED = 20261126


@pytest.mark.django_db(transaction=True)
def test_api_conforms_to_its_schema(
    live_server: Any,
    sandbox: SandboxServer,
    demo_data,
    make_user,
    settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The test server writes headers and body in separate packets; without TCP_NODELAY
    # each answer waits ~40 ms for a delayed ACK, which would triple the run's length.
    monkeypatch.setattr(WSGIRequestHandler, "disable_nagle_algorithm", True)
    # Django's test server cannot read chunked request bodies (gunicorn can): the body
    # stays in the socket and is parsed as the next request. Close such connections.
    original_cleanup = ServerHandler.cleanup_headers

    def cleanup_headers(handler: ServerHandler) -> None:
        original_cleanup(handler)
        if "HTTP_TRANSFER_ENCODING" in handler.environ:
            handler.headers["Connection"] = "close"
            handler.request_handler.close_connection = True

    monkeypatch.setattr(ServerHandler, "cleanup_headers", cleanup_headers)
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "API_CREATE_THROTTLE_RATE": None,
        "DNC_API_THROTTLE_RATE": None,
    }
    user: User = make_user(*ALL_PERMISSIONS, username="fuzzer")
    token = Token.objects.create(user=user)
    # Attempts for the retry and cancel operations to act on (otherwise ids are guesses);
    # the fuzzer's own, since retrying others' attempts needs change_callattempt.
    failed, pending = (
        CallAttempt.objects.create(
            queue=demo_data["sales"],
            agent=demo_data["dana"],
            phone_to_call="3125550123",
            record=0,
            warning=1,
            source="api",
            status=status,
            requested_by=user,
        )
        for status in ("failed", "pending")
    )
    listed = DoNotCallEntry.objects.create(phone_number="+13125550199", source="admin")
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[[operations]]\n"
        'include-path-regex = "/retry/$"\n'
        f'parameters = {{ "path.id" = {failed.pk} }}\n'
        "[[operations]]\n"
        'include-path-regex = "/cancel/$"\n'
        f'parameters = {{ "path.id" = {pending.pk} }}\n'
        "[[operations]]\n"
        'include-path-regex = "/do-not-call/[{]id[}]/$"\n'
        f'parameters = {{ "path.id" = {listed.pk} }}\n'
    )
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{live_server.url}{API}/schema/",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--header",
        f"Authorization: Token {token.key}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--request-timeout",
        "20",
        # Generation speed depends on the machine's load, not on the API.
        "--suppress-health-check",
        "all",
        "--generation-database",
        "none",
        "--report-dir",
        str(tmp_path),
    ]
    run = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT,
        check=False,
    )
    assert run.returncode == 0, f"schemathesis found problems:\n{run.stdout}\n{run.stderr}"
    assert "19 selected / 19 total" in run.stdout
    # The fuzzer got past validation: it placed real calls, retried and cancelled.
    assert any(entry["sid"] for entry in sandbox.requests())
    assert CallAttempt.objects.filter(retry_of=failed).exists()
    pending.refresh_from_db()
    assert pending.status == CallAttempt.Status.CANCELLED
    # ... and listed numbers (the documented example) and removed one.
    assert DoNotCallEntry.objects.filter(phone_number="+13125550123").exists()
    assert not DoNotCallEntry.objects.filter(pk=listed.pk).exists()
