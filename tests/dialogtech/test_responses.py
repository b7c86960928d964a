import codecs
import time
from pathlib import Path

import pytest

from clicktoagent import xmlsafe
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


# -- DTDs are refused whatever the encoding (the check is structural, not a byte regex) --

DTD_SUCCESS = (
    '<?xml version="1.0" encoding="{declared}"?>'
    '<!DOCTYPE response [<!ENTITY done "Request Processed">]>'
    "<response><result>success</result><result_description>&done;</result_description>"
    "<sid>170101aabbccddee</sid></response>"
)
ENCODINGS = [
    # (codec, byte order mark, encoding declared in the document)
    ("utf-8", b"", "UTF-8"),
    ("utf-16-le", codecs.BOM_UTF16_LE, "UTF-16"),
    ("utf-16-be", codecs.BOM_UTF16_BE, "UTF-16"),
    ("utf-16-le", b"", "UTF-16"),  # no byte order mark: libxml2 detects it from "<?"
    ("utf-16-be", b"", "UTF-16BE"),
    ("utf-32-le", codecs.BOM_UTF32_LE, "UTF-32"),
    ("utf-32-be", codecs.BOM_UTF32_BE, "UTF-32"),
    ("latin-1", b"", "ISO-8859-1"),
]


def encoded(text: str, codec: str, bom: bytes) -> bytes:
    return bom + text.encode(codec)


@pytest.mark.parametrize(("codec", "bom", "declared"), ENCODINGS)
def test_dtd_is_refused_in_every_encoding(codec: str, bom: bytes, declared: str) -> None:
    body = encoded(DTD_SUCCESS.format(declared=declared), codec, bom)
    with pytest.raises(ResponseError, match="declares a DTD or entities"):
        parse_click_to_agent(body, max_bytes=MAX)


@pytest.mark.parametrize(("codec", "bom", "declared"), ENCODINGS)
def test_same_answer_without_dtd_is_read_in_every_encoding(
    codec: str, bom: bytes, declared: str
) -> None:
    text = DTD_SUCCESS.format(declared=declared).replace(
        '<!DOCTYPE response [<!ENTITY done "Request Processed">]>', ""
    )
    body = encoded(text.replace("&done;", "OK"), codec, bom)
    response = parse_click_to_agent(body, max_bytes=MAX)
    assert response.ok and response.sid == "170101aabbccddee"


def test_doctype_without_internal_subset_is_refused() -> None:
    body = (
        '<?xml version="1.0" encoding="UTF-16"?>'
        '<!DOCTYPE response SYSTEM "http://127.0.0.1:9/never-fetched.dtd">'
        "<response><result>success</result><sid>1</sid></response>"
    ).encode("utf-16")
    with pytest.raises(ResponseError, match="DTD"):
        parse_click_to_agent(body, max_bytes=MAX)


def test_utf16_external_entity_never_reads_a_local_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("TOP-SECRET-CONTENT")
    body = (
        f'<?xml version="1.0" encoding="UTF-16"?>'
        f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret_file}">]>'
        "<response><result>failed</result><result_description>&x;</result_description>"
        "</response>"
    ).encode("utf-16")
    with pytest.raises(ResponseError) as info:
        parse_click_to_agent(body, max_bytes=MAX)
    assert "TOP-SECRET-CONTENT" not in str(info.value)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_billion_laughs_in_a_wide_encoding_is_refused_quickly(codec: str) -> None:
    entities = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    text = (
        f'<?xml version="1.0" encoding="{codec.upper()}"?>'
        f'<!DOCTYPE r [<!ENTITY l0 "lol">{entities}]>'
        "<response><result>&l9;</result></response>"
    )
    body = text.encode(codec)
    if codec == "utf-16-be":
        body = codecs.BOM_UTF16_BE + body
    started = time.monotonic()
    with pytest.raises(ResponseError, match="DTD"):
        parse_click_to_agent(body, max_bytes=MAX)
    assert time.monotonic() - started < 1.0


def test_tree_is_checked_again_after_the_doctype_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    # Defence in depth: were the scan's hook ever skipped, the parsed tree still tells.
    monkeypatch.setattr(xmlsafe, "_refuse_doctype", lambda body: None)
    body = encoded(DTD_SUCCESS.format(declared="UTF-16"), "utf-16-le", codecs.BOM_UTF16_LE)
    with pytest.raises(ResponseError, match="declares a DTD or entities"):
        parse_click_to_agent(body, max_bytes=MAX)
