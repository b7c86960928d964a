"""Parsing JSON that comes from the network: a size cap, and a depth limit checked
before the parser starts.

``json.loads`` recurses once per nested array or object, so 50,000 ``[`` end in a
``RecursionError`` (a 500) instead of a clear refusal. The nesting is therefore
measured first, by a scan that skips strings and only counts brackets, and a document
deeper than the limit is never handed to the parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from itertools import accumulate
from typing import Any

# A string (closed, or running to the end of an unterminated document) and whatever
# separates brackets; possessive, so the scan stays linear on hostile input.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_NESTING = {"[": 1, "{": 1, "]": -1, "}": -1}


class UnsafeJSONError(ValueError):
    """The document is too large, too deeply nested, or not JSON."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in ``text`` (0 for a scalar), without parsing.

    Brackets inside strings do not count. For a document that is not JSON the figure
    bounds what a parser could reach before it stops at the error.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(0, max(accumulate(map(_NESTING.__getitem__, brackets)), default=0))


def parse_json(
    data: str | bytes,
    *,
    max_depth: int,
    max_bytes: int,
    encoding: str = "utf-8",
    parse_constant: Callable[[str], Any] | None = None,
) -> Any:
    """``json.loads(data)``, refusing documents larger than ``max_bytes`` or nested
    deeper than ``max_depth`` with :class:`UnsafeJSONError`."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "replace"))
    if size > max_bytes:
        raise UnsafeJSONError(
            f"the body is {size} bytes, more than the {max_bytes} allowed", too_large=True
        )
    if isinstance(data, bytes):
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise UnsafeJSONError(f"the body is not valid {encoding} text") from None
    else:
        text = data
    depth = json_depth(text)
    if depth > max_depth:
        raise UnsafeJSONError(
            f"arrays and objects are nested {depth} levels deep; at most {max_depth} are accepted"
        )
    try:
        return json.loads(text, parse_constant=parse_constant)
    except ValueError as err:
        raise UnsafeJSONError(f"not valid JSON ({err})") from None
    except RecursionError:  # pragma: no cover - the depth limit is far below the stack's
        raise UnsafeJSONError("arrays and objects are nested too deeply") from None
