"""The DialogTech credentials never appear in logs, exceptions, output or the database."""

from __future__ import annotations

import logging
import socket
import traceback

import pytest
from django.core.management import call_command
from django.db import connection

from clicktoagent.dialogtech.client import ClickToAgentRequest, DialogTechClient
from clicktoagent.dialogtech.redact import redact
from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.exceptions import DialogTechError
from clicktoagent.services import call_attempt_create
from tests.conftest import ACCESS_KEY, SECRET_ACCESS_KEY

pytestmark = pytest.mark.django_db(transaction=True)

REQUEST = ClickToAgentRequest(
    queue_id="12345", agent_id="98765", phone_to_call="3125550123", record=0, warning=1
)


def assert_no_secret(text: str) -> None:
    assert SECRET_ACCESS_KEY not in text
    assert ACCESS_KEY not in text


def dump_database() -> str:
    """Every value of every table, as text."""
    rows: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            rows.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(rows)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_redact_masks_credential_parameters() -> None:
    url = "https://x/ibp_api.php?access_key=AK&secret_access_key=SAK&action=clickto.agent"
    assert redact(url) == (
        "https://x/ibp_api.php?access_key=[redacted]&secret_access_key=[redacted]"
        "&action=clickto.agent"
    )
    assert redact("value SAK here", ["SAK"]) == "value [redacted] here"


@pytest.mark.parametrize("where", ["refused", "dns", "drop", "read_timeout", "http_500"])
def test_exceptions_and_tracebacks_hold_no_secret(
    _sandbox_server: SandboxServer, where: str
) -> None:
    _sandbox_server.reset()
    url = {
        "refused": f"http://127.0.0.1:{closed_port()}/ibp_api.php",
        "dns": "http://dialogtech-does-not-exist.invalid/ibp_api.php",
    }.get(where, _sandbox_server.url)
    if where not in ("refused", "dns"):
        _sandbox_server.add_fault(where, seconds=1.0)
    client = DialogTechClient(
        base_url=url,
        access_key=ACCESS_KEY,
        secret_access_key=SECRET_ACCESS_KEY,
        connect_timeout=0.5,
        read_timeout=0.3,
        max_response_bytes=65536,
    )
    with pytest.raises(DialogTechError) as info:
        client.click_to_agent(REQUEST)
    assert_no_secret(str(info.value))
    assert_no_secret("".join(traceback.format_exception(info.value)))
    _sandbox_server.reset()


def test_debug_logs_of_http_libraries_are_redacted(
    sandbox: SandboxServer, demo_data, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A library's client (HubSpot's generated one) sets the urllib3 logger's own level
    # when it is configured: give it back DEBUG for this test (restored afterwards).
    caplog.set_level(logging.DEBUG, logger="urllib3")
    call_attempt_create(
        queue_id="12345", agent_id="98765", phone_to_call="3125550123", source="api"
    )
    sandbox.add_fault("drop")
    call_attempt_create(
        queue_id="12345", agent_id="98765", phone_to_call="3125550124", source="api"
    )
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "access_key=[redacted]" in text  # urllib3 logged the request line, masked
    assert_no_secret(text)
    assert_no_secret(caplog.text)


def test_database_holds_no_secret(sandbox: SandboxServer, demo_data) -> None:
    for phone in ("3125550123", "3125550166", "3125550168", "3125550169"):
        call_attempt_create(queue_id="12345", agent_id="98765", phone_to_call=phone, source="api")
    dump = dump_database()
    assert "3125550166" in dump  # the dump really holds the attempts
    assert_no_secret(dump)


def test_command_output_holds_no_secret(
    sandbox: SandboxServer, demo_data, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.add_fault("http_500")
    with pytest.raises(SystemExit):
        call_command("clicktoagent_call", queue="12345", agent="98765", phone="3125550123")
    out, err = capsys.readouterr()
    assert "unknown" in out
    assert_no_secret(out + err)


@pytest.mark.parametrize("debug", [True, False])
def test_django_error_reports_hold_no_secret(
    _sandbox_server: SandboxServer, settings, debug: bool
) -> None:
    """Django's error page and e-mails print the locals of every frame."""
    from django.views.debug import ExceptionReporter

    settings.DEBUG = debug
    _sandbox_server.reset()
    _sandbox_server.add_fault("malformed")
    client = DialogTechClient(
        base_url=_sandbox_server.url,
        access_key=ACCESS_KEY,
        secret_access_key=SECRET_ACCESS_KEY,
        connect_timeout=0.5,
        read_timeout=2.0,
        max_response_bytes=65536,
    )
    with pytest.raises(DialogTechError) as info:
        client.click_to_agent(REQUEST)
    reporter = ExceptionReporter(None, info.type, info.value, info.tb)
    text = reporter.get_traceback_text()
    assert "click_to_agent" in text  # the frame holding the request parameters is shown
    assert_no_secret(text)
    assert_no_secret(reporter.get_traceback_html())
    _sandbox_server.reset()


def test_secret_strings_still_work_as_strings() -> None:
    from clicktoagent.dialogtech.redact import Secret

    secret = Secret("value-123")
    assert secret == "value-123"
    assert f"{secret}" == "value-123"
    assert "value-123" not in repr(secret)
    assert "value-123" not in repr({"k": secret})
