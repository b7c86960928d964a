"""The emulator's account: what a sandbox account file may hold, checked, and its faults.

The manual is docs/sandbox.md.
"""

from __future__ import annotations

import codecs
import copy
import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final, cast

# The dtd_* faults: (codec, byte order mark, encoding declared in the document).
DTD_FAULT_ENCODINGS: Final[Mapping[str, tuple[str, bytes, str]]] = {
    "dtd_utf8": ("utf-8", b"", "UTF-8"),
    "dtd_utf16le": ("utf-16-le", codecs.BOM_UTF16_LE, "UTF-16"),
    "dtd_utf16be": ("utf-16-be", codecs.BOM_UTF16_BE, "UTF-16"),
    "dtd_utf32": ("utf-32-le", codecs.BOM_UTF32_LE, "UTF-32"),
}
FAULT_NAMES: Final = frozenset(
    {
        "latency",
        "http_500",
        "http_503",
        "http_429",
        "read_timeout",
        "drop",
        "malformed",
        "empty",
        "trickle",
    }
    | set(DTD_FAULT_ENCODINGS)
)
# Faults that process the call (possibly placing it) before (mis)answering.
PROCESSING_FAULTS: Final = frozenset(
    {"latency", "http_500", "drop", "read_timeout", "malformed", "trickle"}
    | set(DTD_FAULT_ENCODINGS)
)
DEFAULT_FAULT_SECONDS: Final[Mapping[str, float]] = {
    "latency": 1.0,
    "read_timeout": 30.0,
    "trickle": 1.0,
    "http_503": 1.0,
    "http_429": 1.0,
}

DIGITS = re.compile(r"[0-9]{7,15}")


class AccountError(ValueError):
    """The sandbox account (file or dict) is missing, unreadable or badly shaped."""


# --------------------------------------------------------------------------- account


def _require_str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise AccountError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _require_number(value: Any, where: str) -> str:
    number = _require_str(value, where)
    if not DIGITS.fullmatch(number):
        raise AccountError(f"{where} must be an unformatted phone number (7-15 digits): {number!r}")
    return number


def _require_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise AccountError(f"{where} must be a list, got {type(value).__name__}")
    return value


def _require_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AccountError(f"{where} must be an object, got {type(value).__name__}")
    return cast(dict[str, Any], value)


def check_seconds(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AccountError(f"{where} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise AccountError(f"{where} must be a non-negative number of seconds, got {value!r}")
    return float(value)


def check_fault_name(value: Any, where: str) -> str:
    if value not in FAULT_NAMES:
        raise AccountError(
            f"{where} must be one of {', '.join(sorted(FAULT_NAMES))}, got {value!r}"
        )
    return cast(str, value)


def _entries(
    data: dict[str, Any], key: str, id_field: str, source: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The entries of the list ``data[key]``, each a dict with a unique ``id_field`` and a
    ``name`` (the id when missing), with where it is for messages."""
    seen: set[str] = set()
    for i, raw in enumerate(_require_list(data[key], f"{source}: {key}")):
        where = f"{source}: {key}[{i}]"
        entry = _require_dict(raw, where)
        entry_id = _require_str(entry.get(id_field), f"{where}.{id_field}")
        if entry_id in seen:
            raise AccountError(f"{where}: duplicate {id_field} {entry_id!r}")
        seen.add(entry_id)
        _require_str(entry.setdefault("name", entry_id), f"{where}.name")
        yield where, entry


def validate_account(account: Any, source: str = "account") -> dict[str, Any]:
    """Check an account's shape; return a normalised deep copy.

    Raises :class:`AccountError` naming the offending key. ``registered_numbers``,
    ``tracking_numbers`` and ``faults`` are optional.
    """
    data = _require_dict(copy.deepcopy(account), source)
    for key in ("access_key", "secret_access_key", "queues", "agents"):
        if key not in data:
            raise AccountError(f"{source}: missing required key {key!r}")
    _require_str(data["access_key"], f"{source}: access_key")
    _require_str(data["secret_access_key"], f"{source}: secret_access_key")

    for key in ("registered_numbers", "tracking_numbers"):
        numbers = _require_list(data.setdefault(key, []), f"{source}: {key}")
        for i, number in enumerate(numbers):
            _require_number(number, f"{source}: {key}[{i}]")

    agent_ids: set[str] = set()
    for where, agent in _entries(data, "agents", "agent_id", source):
        agent_ids.add(agent["agent_id"])
        _require_number(agent.get("phone"), f"{where}.phone")
        _require_str(agent.get("mode"), f"{where}.mode")

    for where, queue in _entries(data, "queues", "queue_id", source):
        members = _require_list(queue.get("agents"), f"{where}.agents")
        for j, member in enumerate(members):
            _require_str(member, f"{where}.agents[{j}]")
            if member not in agent_ids:
                raise AccountError(f"{where}.agents[{j}]: unknown agent_id {member!r}")

    faults = _require_dict(data.setdefault("faults", {}), f"{source}: faults")
    for number, raw_spec in faults.items():
        where = f"{source}: faults[{number!r}]"
        spec = _require_dict(raw_spec, where)
        check_fault_name(spec.get("fault"), f"{where}.fault")
        check_seconds(spec.get("seconds"), f"{where}.seconds")
        unknown = sorted(set(spec) - {"fault", "seconds"})
        if unknown:
            raise AccountError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")
    return data


def load_account(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a sandbox account JSON file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AccountError(f"sandbox account file not found: {file}") from None
    except OSError as err:
        raise AccountError(f"cannot read sandbox account file {file}: {err.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise AccountError(
            f"sandbox account file {file} is not valid JSON: {err.msg} "
            f"(line {err.lineno}, column {err.colno})"
        ) from None
    return validate_account(data, source=str(file))
