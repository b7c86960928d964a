"""The safe JSON loader: the depth is measured before parsing, the size is capped."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clicktoagent.jsonsafe import UnsafeJSONError, json_depth, parse_json

LIMITS = {"max_depth": 32, "max_bytes": 1_000_000}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def real_depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((real_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((real_depth(v) for v in value.values()), default=0)
    return 0


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:'),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet='[]{}"\\ab'), children, max_size=4)
    ),
    max_leaves=40,
)


@given(JSON_VALUES)
def test_depth_scan_agrees_with_the_parser(value: Any) -> None:
    # Brackets and escaped quotes inside strings never count.
    assert json_depth(json.dumps(value)) == real_depth(value)


def test_fifty_thousand_brackets_are_refused_before_parsing() -> None:
    for body in ("[" * 50_000, nested(50_000), '{"a":' * 50_000):
        with pytest.raises(UnsafeJSONError, match="nested 50000 levels deep; at most 32"):
            parse_json(body, **LIMITS)


def test_depth_at_the_limit_is_parsed_one_more_is_refused() -> None:
    assert parse_json(nested(32), **LIMITS) == json.loads(nested(32))
    with pytest.raises(UnsafeJSONError, match="nested 33 levels deep"):
        parse_json(nested(33), **LIMITS)


def test_brackets_in_strings_do_not_count() -> None:
    body = json.dumps({"note": "[" * 10_000, "quoted": '\\"[[[' * 100})
    assert parse_json(body, **LIMITS)["note"] == "[" * 10_000


def test_size_is_capped_in_bytes() -> None:
    with pytest.raises(UnsafeJSONError, match="101 bytes, more than the 100") as info:
        parse_json(b'"' + b"a" * 99 + b'"', max_depth=32, max_bytes=100)
    assert info.value.too_large
    with pytest.raises(UnsafeJSONError, match="more than the 100"):
        parse_json('"' + "é" * 50 + '"', max_depth=32, max_bytes=100)  # 102 bytes in UTF-8


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'["unterminated', "not valid JSON"),
        (b"\xff\xfe[]", "not valid utf-8 text"),
    ],
)
def test_invalid_documents_are_our_error(body: bytes, message: str) -> None:
    with pytest.raises(UnsafeJSONError, match=message) as info:
        parse_json(body, **LIMITS)
    assert not info.value.too_large


def test_unterminated_strings_full_of_escapes_are_scanned_quickly() -> None:
    # A regex that retried every quote would take minutes on this.
    assert json_depth('["' + '\\"' * 500_000) == 1
    with pytest.raises(UnsafeJSONError, match="not valid JSON"):
        parse_json("[" + '\\"[' * 300_000, **LIMITS)
