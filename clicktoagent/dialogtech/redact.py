"""Keep DialogTech credentials out of text: they travel as query parameters."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

REDACTED = "[redacted]"
# DialogTech's keys, and the webhook token Salesforce sends in the endpoint's URL.
_CREDENTIAL_PARAM = re.compile(r"((?:secret_)?access_key=|\btoken=)[^&\s'\"]*", re.IGNORECASE)


class Secret(str):
    """A credential: usable as a string, but its repr never shows the value.

    Django's error pages (with DEBUG on, where no filtering applies) print every local
    variable of every frame with repr, so credentials held as locals stay masked there.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"'{REDACTED}'"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask credential query parameters and any of ``secrets`` found in ``text``."""
    text = _CREDENTIAL_PARAM.sub(rf"\1{REDACTED}", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Masks credentials in log records of libraries that log request URLs (urllib3, and
    runserver's access lines, whose request line carries the webhook ``token``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


_FILTERED_LOGGERS = ("urllib3.connectionpool", "requests", "django.server")


def install_log_redaction() -> None:
    """Attach :class:`RedactingFilter` once to the loggers that print request URLs."""
    for name in _FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
