"""The DialogTech emulator, exercised over real HTTP on loopback (no Django needed)."""

from __future__ import annotations

import json
import logging
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from clicktoagent.dialogtech.sandbox import (
    FAULT_NAMES,
    PROCESSING_FAULTS,
    AccountError,
    SandboxServer,
    load_account,
    validate_account,
)

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_FILE = ROOT / "fixtures" / "sandbox_account.json"
ACCESS = "sandbox-access-key"
SECRET = "sandbox-secret-access-key"
SID = re.compile(r"[0-9a-f]{16}")
TIMEOUT = 5.0

BASE = {
    "access_key": ACCESS,
    "secret_access_key": SECRET,
    "action": "clickto.agent",
    "queue_id": "12345",
    "agent_id": "98765",
    "phone_to_call": "3125550123",
}


@pytest.fixture
def account() -> dict[str, Any]:
    return load_account(ACCOUNT_FILE)


@pytest.fixture
def server(account: dict[str, Any]) -> Iterator[SandboxServer]:
    with SandboxServer(account) as srv:
        yield srv


def params(**overrides: str | None) -> dict[str, str]:
    """BASE with overrides; an override of None removes the key."""
    merged: dict[str, str | None] = {**BASE, **overrides}
    return {key: value for key, value in merged.items() if value is not None}


def send(server: SandboxServer, query: dict[str, str], timeout: float = TIMEOUT) -> Any:
    return requests.get(server.url, params=query, timeout=timeout)


def call(server: SandboxServer, timeout: float = TIMEOUT, **overrides: str | None) -> Any:
    return send(server, params(**overrides), timeout=timeout)


def parse(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml"
    root = ET.fromstring(response.content)
    assert root.tag == "response"
    return {child.tag: child.text or "" for child in root}


def failed(response: requests.Response) -> str:
    body = parse(response)
    assert body["result"] == "failed"
    assert "sid" not in body
    return body["result_description"]


# --------------------------------------------------------------------------- success


def test_success_in_the_documented_form(server: SandboxServer) -> None:
    assert server.agent_mode("98765") == "Open"
    response = call(server)
    root = ET.fromstring(response.content)
    assert [child.tag for child in root] == ["result", "result_description", "sid"]
    body = parse(response)
    assert body["result"] == "success"
    assert body["result_description"] == "Request Processed"
    assert SID.fullmatch(body["sid"])
    assert server.agent_mode("98765") == "Outbound"
    # An Outbound agent can take the next call too, with a new sid.
    again = parse(call(server))
    assert again["result"] == "success"
    assert again["sid"] != body["sid"]


def test_post_form_body_is_accepted(server: SandboxServer) -> None:
    response = requests.post(server.url, data=params(), timeout=TIMEOUT)
    body = parse(response)
    assert body["result"] == "success"
    assert SID.fullmatch(body["sid"])
    assert server.requests()[-1]["method"] == "POST"


def test_post_is_checked_like_get(server: SandboxServer) -> None:
    response = requests.post(server.url, data=params(queue_id=None), timeout=TIMEOUT)
    assert failed(response) == "Missing required parameter: queue_id"


def test_busy_work_agent_is_accepted(server: SandboxServer) -> None:
    assert server.agent_mode("98766") == "Busy (Work)"
    body = parse(call(server, agent_id="98766"))
    assert body["result"] == "success"
    assert server.agent_mode("98766") == "Outbound"


def test_closed_agent_is_refused_and_keeps_its_mode(server: SandboxServer) -> None:
    description = failed(call(server, queue_id="12346", agent_id="98767"))
    assert "Closed" in description
    assert "98767" in description
    assert server.agent_mode("98767") == "Closed"


def test_optional_record_and_warning_values(server: SandboxServer) -> None:
    for record in ("0", "1"):
        for warning in ("0", "1", "2", "3"):
            assert parse(call(server, record=record, warning=warning))["result"] == "success"


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"access_key": None}, "Invalid access credentials"),
        ({"secret_access_key": None}, "Invalid access credentials"),
        ({"access_key": "wrong"}, "Invalid access credentials"),
        ({"secret_access_key": "wrong-secret"}, "Invalid access credentials"),
        ({"secret_access_key": ""}, "Invalid access credentials"),
        ({"action": None}, "Missing required parameter: action"),
        ({"action": "clickto.call"}, "clickto.call"),
        ({"queue_id": None}, "Missing required parameter: queue_id"),
        ({"agent_id": None}, "Missing required parameter: agent_id"),
        ({"phone_to_call": None}, "Missing required parameter: phone_to_call"),
        ({"phone_to_call": ""}, "Missing required parameter: phone_to_call"),
        ({"queue_id": "99999"}, "Invalid queue_id: queue '99999' not found"),
        ({"agent_id": "11111"}, "Invalid agent_id: agent '11111' not found"),
        ({"agent_id": "98767"}, "not a member of queue '12345'"),
        ({"phone_to_call": "312-555-0123"}, "'312-555-0123'"),
        ({"phone_to_call": "(312) 5550123"}, "'(312) 5550123'"),
        ({"phone_to_call": "123456"}, "'123456'"),
        ({"phone_to_call": "1234567890123456"}, "'1234567890123456'"),
        ({"first_callerid": "312.555.0100"}, "'312.555.0100'"),
        ({"second_callerid": "abc"}, "'abc'"),
        ({"record": "2"}, "Invalid record: '2'"),
        ({"record": "yes"}, "Invalid record: 'yes'"),
        ({"warning": "4"}, "Invalid warning: '4'"),
        ({"warning": "-1"}, "Invalid warning: '-1'"),
        ({"first_callerid": "3125550000"}, "Invalid first_callerid: '3125550000'"),
        ({"second_callerid": "3125550000"}, "Invalid second_callerid: '3125550000'"),
    ],
)
def test_refusals_are_specific(
    server: SandboxServer, overrides: dict[str, str | None], expected: str
) -> None:
    response = send(server, params(**overrides))
    description = failed(response)
    assert expected in description
    assert SECRET not in response.text
    assert server.agent_mode("98765") == "Open"
    entry = server.requests()[-1]
    assert entry["result"] == "failed"
    assert entry["sid"] is None
    assert entry["description"] == description


def test_invalid_number_description_says_what_is_wrong(server: SandboxServer) -> None:
    description = failed(call(server, phone_to_call="312-555-0123"))
    assert description.startswith("Invalid phone number for phone_to_call")


def test_closed_agent_mode_check_comes_before_number_checks(server: SandboxServer) -> None:
    description = failed(call(server, queue_id="12346", agent_id="98767", phone_to_call="x"))
    assert "Closed" in description


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # Credentials first, even when everything else is wrong as well.
        (
            {"secret_access_key": "nope", "action": "x", "queue_id": None},
            "Invalid access credentials",
        ),
        ({"action": "x", "queue_id": None}, "Invalid action"),
        ({"queue_id": None, "agent_id": None}, "Missing required parameter: queue_id"),
        ({"queue_id": "99999", "agent_id": "11111"}, "Invalid queue_id"),
        ({"agent_id": "11111", "phone_to_call": "bad"}, "Invalid agent_id"),
        ({"phone_to_call": "bad", "record": "9"}, "phone_to_call"),
        ({"record": "9", "first_callerid": "3125550000"}, "Invalid record"),
        ({"warning": "9", "first_callerid": "3125550000"}, "Invalid warning"),
    ],
)
def test_checks_run_in_the_documented_order(
    server: SandboxServer, overrides: dict[str, str | None], expected: str
) -> None:
    assert expected in failed(send(server, params(**overrides)))


def test_bad_credentials_never_echo_the_secret(
    server: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="clicktoagent.sandbox")
    wrong = "my-very-secret-wrong-key"
    for overrides in ({"secret_access_key": wrong}, {"secret_access_key": SECRET}, {}):
        response = send(server, params(**overrides))
        assert wrong not in response.text
        assert SECRET not in response.text
    requests.get(server.base + "/nowhere", params=params(), timeout=TIMEOUT)
    logged = caplog.text + json.dumps(server.requests())
    assert wrong not in logged
    assert SECRET not in logged
    assert ACCESS not in json.dumps(server.requests())


# --------------------------------------------------------------------------- caller ids


@pytest.mark.parametrize(
    "callerid",
    [
        "3125550100",  # registered
        "3125550199",  # tracking number
        "3125550101",  # the agent's phone (first leg is dialled to it)
        "3125550123",  # phone_to_call itself
        "13125550100",  # registered, 11-digit form
    ],
)
@pytest.mark.parametrize("which", ["first_callerid", "second_callerid"])
def test_allowed_caller_ids(server: SandboxServer, which: str, callerid: str) -> None:
    body = parse(send(server, params(**{which: callerid})))
    assert body["result"] == "success", body


def test_caller_id_of_another_agent_is_refused(server: SandboxServer) -> None:
    # 3125550102 is Sam's phone, not one of the two numbers being dialled here.
    description = failed(call(server, first_callerid="3125550102"))
    assert "first_callerid" in description
    assert "3125550102" in description


def test_both_caller_ids_together(server: SandboxServer) -> None:
    body = parse(call(server, first_callerid="3125550199", second_callerid="3125550100"))
    assert body["result"] == "success"


# --------------------------------------------------------------------------- faults


def test_fault_names() -> None:
    expected = {
        "latency",
        "http_500",
        "http_503",
        "http_429",
        "read_timeout",
        "drop",
        "malformed",
        "empty",
        "trickle",
        "dtd_utf8",
        "dtd_utf16le",
        "dtd_utf16be",
        "dtd_utf32",
    }
    assert expected == FAULT_NAMES
    processing = {"latency", "http_500", "drop", "read_timeout", "malformed", "trickle"}
    processing |= {"dtd_utf8", "dtd_utf16le", "dtd_utf16be", "dtd_utf32"}
    assert processing == PROCESSING_FAULTS


def test_latency_then_normal_answer(server: SandboxServer) -> None:
    server.add_fault("latency", seconds=0.3)
    started = time.monotonic()
    body = parse(call(server))
    assert time.monotonic() - started >= 0.25
    assert body["result"] == "success"
    assert server.requests()[-1]["fault"] == "latency"
    assert server.agent_mode("98765") == "Outbound"


def _assert_processed(server: SandboxServer, fault: str) -> None:
    entry = server.requests()[-1]
    assert entry["fault"] == fault
    assert entry["result"] is None
    assert SID.fullmatch(entry["sid"])
    assert server.agent_mode("98765") == "Outbound"


def _assert_not_processed(server: SandboxServer, fault: str) -> None:
    entry = server.requests()[-1]
    assert entry["fault"] == fault
    assert entry["result"] is None
    assert entry["sid"] is None
    assert server.agent_mode("98765") == "Open"


def test_http_500_processes_the_call_then_fails(server: SandboxServer) -> None:
    server.add_fault("http_500")
    response = call(server)
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<sid>" not in response.text
    _assert_processed(server, "http_500")
    assert server.requests()[-1]["status"] == 500


@pytest.mark.parametrize(("fault", "status"), [("http_503", 503), ("http_429", 429)])
def test_retry_after_faults_do_not_process(server: SandboxServer, fault: str, status: int) -> None:
    server.add_fault(fault)
    response = call(server)
    assert response.status_code == status
    assert response.headers["Retry-After"] == "1"
    _assert_not_processed(server, fault)

    server.add_fault(fault, seconds=7)
    assert call(server).headers["Retry-After"] == "7"
    # The next request is back to normal.
    assert parse(call(server))["result"] == "success"


def test_read_timeout_processes_the_call_and_never_answers(server: SandboxServer) -> None:
    server.add_fault("read_timeout", seconds=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        call(server, timeout=0.3)
    _assert_processed(server, "read_timeout")


def test_read_timeout_closes_without_answer_after_the_wait(server: SandboxServer) -> None:
    server.add_fault("read_timeout", seconds=0.2)
    with pytest.raises(requests.exceptions.ConnectionError):
        call(server, timeout=3)


def test_drop_processes_the_call_and_closes(server: SandboxServer) -> None:
    server.add_fault("drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        call(server)
    _assert_processed(server, "drop")


def test_malformed_processes_the_call_and_answers_garbage(server: SandboxServer) -> None:
    server.add_fault("malformed")
    response = call(server)
    assert response.status_code == 200
    assert response.content
    with pytest.raises(ET.ParseError):
        ET.fromstring(response.content)
    _assert_processed(server, "malformed")


def test_trickle_processes_the_call_then_sends_the_answer_one_byte_at_a_time(
    server: SandboxServer,
) -> None:
    server.add_fault("trickle", seconds=0.002)
    with requests.get(server.url, params=params(), timeout=TIMEOUT, stream=True) as response:
        assert response.status_code == 200
        chunks = list(response.raw.stream(1))
    assert len(chunks) > 50 and all(len(chunk) == 1 for chunk in chunks)
    body = ET.fromstring(b"".join(chunks))
    assert body.findtext("result") == "success"
    entry = server.requests()[-1]
    assert entry["fault"] == "trickle" and entry["sid"] == body.findtext("sid")
    assert server.agent_mode("98765") == "Outbound"


@pytest.mark.parametrize(
    ("fault", "bom", "codec"),
    [
        ("dtd_utf8", b"<?xml", "utf-8"),
        ("dtd_utf16le", b"\xff\xfe<\x00", "utf-16"),
        ("dtd_utf16be", b"\xfe\xff\x00<", "utf-16"),
        ("dtd_utf32", b"\xff\xfe\x00\x00<\x00\x00\x00", "utf-32"),
    ],
)
def test_dtd_faults_process_the_call_and_answer_with_a_dtd(
    server: SandboxServer, fault: str, bom: bytes, codec: str
) -> None:
    server.add_fault(fault)
    response = call(server)
    assert response.status_code == 200
    assert response.content.startswith(bom)
    text = response.content.decode(codec)
    assert '<!DOCTYPE response [<!ENTITY description "Request Processed">]>' in text
    assert "<result_description>&description;</result_description>" in text
    entry = server.requests()[-1]
    assert entry["fault"] == fault
    assert entry["result"] == "success"
    assert SID.fullmatch(entry["sid"])
    assert f"<sid>{entry['sid']}</sid>" in text
    assert server.agent_mode("98765") == "Outbound"


def test_empty_answers_nothing_and_does_not_process(server: SandboxServer) -> None:
    server.add_fault("empty")
    response = call(server)
    assert response.status_code == 200
    assert response.content == b""
    _assert_not_processed(server, "empty")


def test_processing_fault_on_an_invalid_request_places_no_call(server: SandboxServer) -> None:
    server.add_fault("http_500")
    assert call(server, queue_id="12346", agent_id="98767").status_code == 500
    entry = server.requests()[-1]
    assert entry["sid"] is None
    assert "Closed" in entry["description"]
    assert server.agent_mode("98767") == "Closed"


def test_queued_fault_count_and_phone_filter(server: SandboxServer) -> None:
    server.add_fault("http_503", count=2, phone_to_call="3125550111")
    assert parse(call(server))["result"] == "success"  # another number: unaffected
    assert call(server, phone_to_call="3125550111").status_code == 503
    assert call(server, phone_to_call="3125550111").status_code == 503
    assert parse(call(server, phone_to_call="3125550111"))["result"] == "success"
    assert server.faults() == []


def test_queued_faults_apply_in_order(server: SandboxServer) -> None:
    server.add_fault("http_503")
    server.add_fault("http_429", count=2)
    assert server.faults()[1] == {
        "fault": "http_429",
        "count": 2,
        "seconds": None,
        "phone_to_call": None,
    }
    statuses = [call(server).status_code for _ in range(4)]
    assert statuses == [503, 429, 429, 200]


def test_clear_faults(server: SandboxServer) -> None:
    server.add_fault("http_500", count=5)
    assert server.clear_faults() == 1
    assert parse(call(server))["result"] == "success"


def test_add_fault_rejects_bad_arguments(server: SandboxServer) -> None:
    with pytest.raises(ValueError, match="fault"):
        server.add_fault("explode")
    with pytest.raises(ValueError, match="count"):
        server.add_fault("http_500", count=0)
    with pytest.raises(ValueError, match="seconds"):
        server.add_fault("latency", seconds=-1)


def test_account_file_faults(server: SandboxServer) -> None:
    assert call(server, phone_to_call="3125550166").status_code == 500
    assert call(server, phone_to_call="3125550166").status_code == 500  # every time
    with pytest.raises(requests.exceptions.ConnectionError):
        call(server, phone_to_call="3125550168")
    malformed = call(server, phone_to_call="3125550169")
    with pytest.raises(ET.ParseError):
        ET.fromstring(malformed.content)
    faults = [entry["fault"] for entry in server.requests()]
    assert faults == ["http_500", "http_500", "drop", "malformed"]
    assert all(SID.fullmatch(entry["sid"]) for entry in server.requests())


def test_queued_fault_wins_over_account_fault(server: SandboxServer) -> None:
    server.add_fault("http_429", phone_to_call="3125550166")
    assert call(server, phone_to_call="3125550166").status_code == 429
    assert call(server, phone_to_call="3125550166").status_code == 500


def test_account_read_timeout_is_cut_short_by_stop(account: dict[str, Any]) -> None:
    server = SandboxServer(account).start()
    try:
        with pytest.raises(requests.exceptions.ReadTimeout):
            call(server, phone_to_call="3125550167", timeout=0.3)
        assert server.requests()[-1]["fault"] == "read_timeout"
    finally:
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2


# --------------------------------------------------------------------------- request log


def test_request_log_entries(server: SandboxServer) -> None:
    before = time.time()
    sid = parse(call(server, record="1"))["sid"]
    failed(call(server, agent_id="11111"))
    after = time.time()
    first, second = server.requests()
    assert before <= first["received_at"] <= second["received_at"] <= after
    assert first["params"] == {
        **BASE,
        "access_key": "***",
        "secret_access_key": "***",
        "record": "1",
    }
    assert first["fault"] is None
    assert first["result"] == "success"
    assert first["sid"] == sid
    assert second["result"] == "failed"
    assert second["sid"] is None
    # A copy: changing it changes nothing.
    server.requests()[0]["params"]["access_key"] = SECRET
    assert server.requests()[0]["params"]["access_key"] == "***"
    assert server.clear_requests() == 2
    assert server.requests() == []


def test_only_api_requests_are_logged(server: SandboxServer) -> None:
    assert requests.get(server.base + "/other.php", timeout=TIMEOUT).status_code == 404
    requests.get(server.base + "/_sandbox/agents", timeout=TIMEOUT)
    assert server.requests() == []


# --------------------------------------------------------------------------- control endpoints


def test_control_requests_endpoint(server: SandboxServer) -> None:
    sid = parse(call(server))["sid"]
    listing = requests.get(server.base + "/_sandbox/requests", timeout=TIMEOUT)
    assert listing.status_code == 200
    entries = listing.json()["requests"]
    assert [entry["sid"] for entry in entries] == [sid]
    assert entries[0]["params"]["secret_access_key"] == "***"
    assert SECRET not in listing.text
    cleared = requests.delete(server.base + "/_sandbox/requests", timeout=TIMEOUT)
    assert cleared.status_code == 200
    assert server.requests() == []


def test_control_faults_endpoint(server: SandboxServer) -> None:
    url = server.base + "/_sandbox/faults"
    created = requests.post(
        url, json={"fault": "http_503", "count": 2, "seconds": 3}, timeout=TIMEOUT
    )
    assert created.status_code == 201
    assert requests.get(url, timeout=TIMEOUT).json()["faults"][0]["fault"] == "http_503"
    response = call(server)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"
    assert requests.delete(url, timeout=TIMEOUT).status_code == 200
    assert parse(call(server))["result"] == "success"

    requests.post(url, json={"fault": "empty", "phone_to_call": "3125550111"}, timeout=TIMEOUT)
    assert parse(call(server))["result"] == "success"
    assert call(server, phone_to_call="3125550111").content == b""


@pytest.mark.parametrize(
    "payload",
    [
        {"fault": "explode"},
        {},
        {"fault": "latency", "seconds": "soon"},
        {"fault": "drop", "count": 0},
    ],
)
def test_control_faults_rejects_bad_specs(server: SandboxServer, payload: dict[str, Any]) -> None:
    response = requests.post(server.base + "/_sandbox/faults", json=payload, timeout=TIMEOUT)
    assert response.status_code == 400
    assert "error" in response.json()
    assert server.faults() == []


def test_control_agents_endpoint(server: SandboxServer) -> None:
    agents = requests.get(server.base + "/_sandbox/agents", timeout=TIMEOUT).json()["agents"]
    assert {agent["agent_id"]: agent["mode"] for agent in agents} == {
        "98765": "Open",
        "98766": "Busy (Work)",
        "98767": "Closed",
    }
    changed = requests.post(
        server.base + "/_sandbox/agents/98765", json={"mode": "Closed"}, timeout=TIMEOUT
    )
    assert changed.status_code == 200
    assert changed.json()["agent"]["mode"] == "Closed"
    assert server.agent_mode("98765") == "Closed"
    assert "Closed" in failed(call(server))

    server.set_agent_mode("98765", "Open")
    assert parse(call(server))["result"] == "success"
    agent = requests.get(server.base + "/_sandbox/agents/98765", timeout=TIMEOUT).json()
    assert agent["agent"]["mode"] == "Outbound"


def test_control_agents_errors(server: SandboxServer) -> None:
    unknown = requests.post(
        server.base + "/_sandbox/agents/11111", json={"mode": "Open"}, timeout=TIMEOUT
    )
    assert unknown.status_code == 404
    no_mode = requests.post(server.base + "/_sandbox/agents/98765", json={}, timeout=TIMEOUT)
    assert no_mode.status_code == 400
    bad_json = requests.post(
        server.base + "/_sandbox/agents/98765", data=b"{not json", timeout=TIMEOUT
    )
    assert bad_json.status_code == 400
    with pytest.raises(KeyError):
        server.set_agent_mode("11111", "Open")


def test_control_reset(server: SandboxServer) -> None:
    parse(call(server))
    server.add_fault("http_500")
    response = requests.post(server.base + "/_sandbox/reset", timeout=TIMEOUT)
    assert response.status_code == 200
    assert server.agent_mode("98765") == "Open"
    assert server.requests() == []
    assert server.faults() == []


def test_unknown_paths_are_404(server: SandboxServer) -> None:
    assert requests.get(server.base + "/", timeout=TIMEOUT).status_code == 404
    assert requests.get(server.base + "/_sandbox/nope", timeout=TIMEOUT).status_code == 404
    assert requests.get(server.base + "/ibp_api.php/x", timeout=TIMEOUT).status_code == 404


# --------------------------------------------------------------------------- concurrency


def test_fifty_concurrent_calls_get_distinct_sids(server: SandboxServer) -> None:
    barrier = threading.Barrier(50)
    sids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            body = parse(call(server, timeout=10))
            with lock:
                sids.append(body["sid"])
        except BaseException as err:  # reported below
            with lock:
                errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == []
    assert len(sids) == 50
    assert len(set(sids)) == 50
    assert all(SID.fullmatch(sid) for sid in sids)
    log = server.requests()
    assert len(log) == 50
    assert {entry["sid"] for entry in log} == set(sids)


# --------------------------------------------------------------------------- lifecycle, account


def test_urls_and_lifecycle(account: dict[str, Any]) -> None:
    server = SandboxServer(account, port=0)
    assert server.port > 0
    assert server.base == f"http://127.0.0.1:{server.port}"
    assert server.url == server.base + "/ibp_api.php"
    with server:
        assert parse(call(server))["result"] == "success"
    server.stop()  # idempotent
    with pytest.raises(requests.exceptions.ConnectionError):
        call(server, timeout=1)


def test_server_state_is_a_copy_of_the_account(account: dict[str, Any]) -> None:
    with SandboxServer(account) as server:
        parse(call(server))
        assert server.agent_mode("98765") == "Outbound"
    assert account["agents"][0]["mode"] == "Open"


def test_load_account_errors(tmp_path: Path, account: dict[str, Any]) -> None:
    with pytest.raises(AccountError, match="not found"):
        load_account(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(AccountError, match="not valid JSON"):
        load_account(bad)
    bad.write_text("[]")
    with pytest.raises(AccountError, match="must be an object"):
        load_account(bad)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda a: a.pop("secret_access_key"), "secret_access_key"),
        (lambda a: a.update(access_key=""), "access_key"),
        (lambda a: a.update(queues={}), "queues must be a list"),
        (lambda a: a["queues"][0]["agents"].append("55555"), "unknown agent_id '55555'"),
        (lambda a: a["agents"][0].update(phone="312-555-0101"), "phone"),
        (lambda a: a["agents"][0].pop("mode"), "mode"),
        (lambda a: a["agents"].append(dict(a["agents"][0])), "duplicate agent_id"),
        (lambda a: a.update(registered_numbers=["abc"]), "registered_numbers"),
        (lambda a: a["faults"].update({"3125550170": {"fault": "boom"}}), "fault"),
        (
            lambda a: a["faults"].update({"3125550170": {"fault": "latency", "seconds": -2}}),
            "seconds",
        ),
    ],
)
def test_validate_account_errors(account: dict[str, Any], mutate: Any, message: str) -> None:
    mutate(account)
    with pytest.raises(AccountError, match=re.escape(message)):
        validate_account(account)
    with pytest.raises(AccountError):
        SandboxServer(account)


def test_optional_account_keys(account: dict[str, Any]) -> None:
    for key in ("registered_numbers", "tracking_numbers", "faults"):
        account.pop(key)
    with SandboxServer(account) as server:
        assert parse(call(server, phone_to_call="3125550166"))["result"] == "success"
        assert "first_callerid" in failed(call(server, first_callerid="3125550100"))


# --------------------------------------------------------------------------- management command

COMMAND = """
import sys
from django.conf import settings
settings.configure()
from clicktoagent.management.commands.clicktoagent_sandbox import Command
Command().run_from_argv(["manage.py", "clicktoagent_sandbox", *sys.argv[1:]])
"""


def _run_command(*args: str, cwd: Path = ROOT) -> subprocess.Popen[str]:
    pytest.importorskip("django")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.Popen(
        [sys.executable, "-c", COMMAND, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_management_command_serves_until_sigterm() -> None:
    process = _run_command("--port", "0")  # default account file, relative to cwd
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 15)
        assert ready, "the command printed nothing"
        line = process.stdout.readline().strip()
        match = re.fullmatch(r"DIALOGTECH_BASE_URL=(http://127\.0\.0\.1:\d+/ibp_api\.php)", line)
        assert match, line
        response = requests.get(match.group(1), params=params(), timeout=TIMEOUT)
        assert parse(response)["result"] == "success"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_management_command_missing_account(tmp_path: Path) -> None:
    process = _run_command("--port", "0", "--account", str(tmp_path / "none.json"))
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 1
    assert "CommandError" in stderr
    assert "not found" in stderr


# --------------------------------------------------------------------------- latency


def test_latency_delays_every_answer(account: dict[str, Any]) -> None:
    with SandboxServer(account, latency=0.2) as server:
        assert server.latency == 0.2
        for phone in ("3125550123", "3125550124"):
            started = time.monotonic()
            assert parse(call(server, phone_to_call=phone))["result"] == "success"
            assert time.monotonic() - started >= 0.19
        # A refusal waits too: the latency is the service's, not the call's.
        started = time.monotonic()
        assert "access" in failed(call(server, secret_access_key="wrong")).lower()
        assert time.monotonic() - started >= 0.19
        server.set_latency(0)
        started = time.monotonic()
        parse(call(server))
        assert time.monotonic() - started < 0.19
        server.reset()  # back to the latency it was made with
        assert server.latency == 0.2


def test_latency_adds_to_a_latency_fault(server: SandboxServer) -> None:
    server.set_latency(0.15)
    server.add_fault("latency", seconds=0.15)
    started = time.monotonic()
    assert parse(call(server))["result"] == "success"
    assert time.monotonic() - started >= 0.29


def test_latency_is_waited_in_parallel(server: SandboxServer) -> None:
    """Concurrent requests wait side by side, so N clients see N times the throughput."""
    server.set_latency(0.4)
    results: list[str] = []

    def one(i: int) -> None:
        results.append(parse(call(server, phone_to_call=f"312555{100 + i:04d}"))["result"])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    assert results == ["success"] * 8
    assert 0.4 <= elapsed < 1.6


@pytest.mark.parametrize("seconds", [-1, "soon", None, True, float("inf"), 601])
def test_set_latency_rejects_bad_values(server: SandboxServer, seconds: Any) -> None:
    with pytest.raises(ValueError, match="latency"):
        server.set_latency(seconds)
    assert server.latency == 0.0


def test_bad_latency_at_construction(account: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="latency"):
        SandboxServer(account, latency=-0.5)


def test_control_latency_endpoint(server: SandboxServer) -> None:
    url = server.base + "/_sandbox/latency"
    assert requests.get(url, timeout=TIMEOUT).json() == {"latency": 0.0}
    response = requests.post(url, json={"seconds": 0.25}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json() == {"latency": 0.25}
    assert server.latency == 0.25
    started = time.monotonic()
    parse(call(server))
    assert time.monotonic() - started >= 0.24
    assert requests.put(url, json={"seconds": 0.1}, timeout=TIMEOUT).json() == {"latency": 0.1}
    cleared = requests.delete(url, timeout=TIMEOUT)
    assert cleared.status_code == 200
    assert server.latency == 0.0
    requests.post(url, json={"seconds": 0.5}, timeout=TIMEOUT)
    requests.post(server.base + "/_sandbox/reset", timeout=TIMEOUT)
    assert server.latency == 0.0


@pytest.mark.parametrize(
    "payload", [{}, {"seconds": -1}, {"seconds": "1"}, {"seconds": 10_000}, {"seconds": None}]
)
def test_control_latency_rejects_bad_values(server: SandboxServer, payload: dict[str, Any]) -> None:
    server.set_latency(0.05)
    response = requests.post(server.base + "/_sandbox/latency", json=payload, timeout=TIMEOUT)
    assert response.status_code == 400
    assert "latency" in response.json()["error"]
    assert server.latency == 0.05


@pytest.mark.parametrize(
    ("route", "allow"),
    [
        ("latency", "GET, POST, PUT, DELETE"),
        ("requests", "GET, DELETE"),
        ("faults", "GET, POST, DELETE"),
        ("agents", "GET"),
        ("reset", "POST"),
    ],
)
def test_control_endpoints_refuse_other_methods(
    server: SandboxServer, route: str, allow: str
) -> None:
    server.add_fault("http_503")
    response = requests.patch(f"{server.base}/_sandbox/{route}", json={}, timeout=TIMEOUT)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    assert len(server.faults()) == 1  # nothing was done


def test_control_unknown_endpoint_is_a_404(server: SandboxServer) -> None:
    response = requests.get(f"{server.base}/_sandbox/nothing", timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.json() == {"error": "unknown sandbox endpoint"}


def test_management_command_latency_flag() -> None:
    process = _run_command("--port", "0", "--latency", "0.3")
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 15)
        assert ready, "the command printed nothing"
        url = process.stdout.readline().strip().split("=", 1)[1]
        started = time.monotonic()
        response = requests.get(url, params=params(), timeout=TIMEOUT)
        assert time.monotonic() - started >= 0.29
        assert parse(response)["result"] == "success"
        control = url.replace("/ibp_api.php", "/_sandbox/latency")
        assert requests.get(control, timeout=TIMEOUT).json() == {"latency": 0.3}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_management_command_bad_latency() -> None:
    process = _run_command("--port", "0", "--latency", "-1")
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 1
    assert "--latency must be" in stderr
