import time
from pathlib import Path

import pytest

from clicktoagent.dialogtech.responses import parse_click_to_agent
from clicktoagent.exceptions import ResponseError

MAX = 65536

SUCCESS = b"""<response>
\t<result>success</result>
\t<result_description>Request Processed</result_description>
\t<sid>170101aabbccddee</sid>
</response>"""


def test_success_reads_sid_and_description() -> None:
    response = parse_click_to_agent(SUCCESS, max_bytes=MAX)
    assert response.ok
    assert response.sid == "170101aabbccddee"
    assert response.result_description == "Request Processed"


def test_failed_keeps_description_verbatim() -> None:
    body = (
        b"<response><result>failed</result>"
        b"<result_description>  Agent is not in an available mode &amp; cannot be reached"
        b"</result_description></response>"
    )
    response = parse_click_to_agent(body, max_bytes=MAX)
    assert not response.ok
    assert response.result == "failed"
    assert response.sid == ""
    assert response.result_description == (
        "  Agent is not in an available mode & cannot be reached"
    )


def test_any_result_other_than_success_is_a_failure() -> None:
    body = b"<response><result>error</result><result_description>x</result_description></response>"
    assert not parse_click_to_agent(body, max_bytes=MAX).ok


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty body"),
        (b"<response><result>success</result>", "not well-formed"),
        (b"<html><body>Bad gateway</body></html>", "root <html>"),
        (b"<response><result_description>x</result_description></response>", "no <result>"),
        (b"<response><result>success</result></response>", "without a <sid>"),
        (b"\xff\xfe not xml", "not well-formed"),
    ],
)
def test_unusable_bodies_are_our_error_never_a_crash(body: bytes, fragment: str) -> None:
    with pytest.raises(ResponseError) as info:
        parse_click_to_agent(body, max_bytes=MAX)
    assert fragment in str(info.value)


def test_oversized_body_is_refused() -> None:
    body = b"<response><result>success</result><sid>" + b"a" * 2000 + b"</sid></response>"
    with pytest.raises(ResponseError, match="more than the 1024 allowed"):
        parse_click_to_agent(body, max_bytes=1024)


def test_external_entity_never_reads_a_local_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("TOP-SECRET-CONTENT")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret_file}">]>'
        "<response><result>failed</result><result_description>&x;</result_description>"
        "</response>"
    ).encode()
    with pytest.raises(ResponseError) as info:
        parse_click_to_agent(body, max_bytes=MAX)
    assert "TOP-SECRET-CONTENT" not in str(info.value)
    assert "DTD" in str(info.value)


def test_billion_laughs_is_refused_quickly() -> None:
    entities = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    body = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{entities}]>'
        "<response><result>&l9;</result></response>"
    ).encode()
    started = time.monotonic()
    with pytest.raises(ResponseError):
        parse_click_to_agent(body, max_bytes=MAX)
    # Expansion would take minutes and gigabytes; refusal is immediate.
    assert time.monotonic() - started < 5.0


def test_entity_declaration_hidden_behind_case_is_still_refused() -> None:
    body = b'<!doctype response [<!entity x "y">]><response><result>&x;</result></response>'
    with pytest.raises(ResponseError):
        parse_click_to_agent(body, max_bytes=MAX)


def test_overlong_sid_is_refused_rather_than_truncated() -> None:
    body = b"<response><result>success</result><sid>" + b"a" * 65 + b"</sid></response>"
    with pytest.raises(ResponseError, match="longer than 64"):
        parse_click_to_agent(body, max_bytes=MAX)
