"""Log formatters that keep secrets out: JSON (one object per line) and plain text.

Use them from ``LOGGING``::

    "formatters": {
        "json": {"()": "clicktoagent.logging.JsonFormatter"},
        "plain": {"()": "clicktoagent.logging.RedactingFormatter", "fmt": "%(message)s"},
    }

Every line has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, plus
the fields the app passes as extras (``attempt_id``, ``status``, ``sid``, ``tries``,
``duration_ms``...) and ``exception`` when there is one. Credential query parameters
and the configured DialogTech keys are masked in every value.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from .dialogtech.redact import redact

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))
) | {"message", "asctime", "taskName"}


def _secrets() -> tuple[str, ...]:
    try:
        from .conf import SECRET_KEYS, app_settings

        values: list[str] = []
        for key in sorted(SECRET_KEYS):
            value = getattr(app_settings, key)
            # A list holds several secrets at once (tokens being rotated).
            items = value if isinstance(value, list | tuple | set | frozenset) else [value]
            values.extend(str(item) for item in items if item)
        return tuple(values)
    except Exception:
        # Settings not configured (or broken): the parameter pattern still applies.
        return ()


def _clean(value: Any, secrets: tuple[str, ...]) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): _clean(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v, secrets) for v in value]
    return redact(str(value), secrets)


class RedactingFormatter(logging.Formatter):
    """A plain formatter that masks credential parameters and the configured secrets in
    the whole line, traceback included (an exception message may quote anything)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), _secrets())


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        secrets = _secrets()
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage(), secrets),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_") and key not in data:
                data[key] = _clean(value, secrets)
        if record.exc_info:
            data["exception"] = redact(self.formatException(record.exc_info), secrets)
        if record.stack_info:
            data["stack"] = redact(self.formatStack(record.stack_info), secrets)
        return json.dumps(data, default=str)
