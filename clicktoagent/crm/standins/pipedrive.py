"""The Pipedrive stand-in: call logs."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from .base import (
    Reply,
    TokenStandIn,
    _json_object,
    _known,
    _Refused,
)

PIPEDRIVE_OUTCOMES = (
    "connected",
    "no_answer",
    "left_message",
    "left_voicemail",
    "wrong_number",
    "busy",
)
_PIPEDRIVE_TIME = "%Y-%m-%d %H:%M:%S"


class PipedriveStandIn(TokenStandIn):
    """Pipedrive's call logs API. ``known``: ids that exist per ``person``,
    ``organization`` and ``deal``; None accepts any."""

    name = "Pipedrive"

    def operation(self, method: str, path: str) -> str | None:
        return "create" if method == "POST" and path == "/api/v1/callLogs" else None

    def authorized(self, headers: Any, operation: str) -> bool:
        given = str(headers.get("x-api-token", ""))
        return self._is_token(given)

    def unauthorized(self) -> Reply:
        return Reply(
            401,
            {
                "success": False,
                "error": "You need to be authorized to make this request.",
                "errorCode": 401,
            },
        )

    def bad_request(self, message: str) -> Reply:
        return Reply(400, {"success": False, "error": message, "error_info": "Bad request"})

    def handle(
        self, operation: str, path: str, query: dict[str, list[str]], body: bytes, headers: Any
    ) -> Reply:
        log = _json_object(body)
        if log.get("outcome") not in PIPEDRIVE_OUTCOMES:
            raise _Refused(f"outcome must be one of {', '.join(PIPEDRIVE_OUTCOMES)}.")
        if not log.get("to_phone_number"):
            raise _Refused("to_phone_number is required.")
        for name in ("start_time", "end_time"):
            try:
                datetime.strptime(str(log.get(name)), _PIPEDRIVE_TIME)
            except ValueError:
                raise _Refused(f"{name} must be YYYY-MM-DD HH:MM:SS (UTC).") from None
        on = []
        for field, object_type in (
            ("person_id", "person"),
            ("org_id", "organization"),
            ("deal_id", "deal"),
        ):
            value = log.get(field)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                raise _Refused(f"{field} must be an integer.")
            if not _known(self.known, object_type, str(value)):
                raise _Refused(f"{object_type} {value} not found.")
            on.append((object_type, str(value)))
        log_id = secrets.token_hex(16)
        self._store({"id": log_id, **log}, on)
        return Reply(200, {"success": True, "data": {"id": log_id, **log}})

    def title_of(self, record: dict[str, Any]) -> str:
        return str(record.get("subject", record["id"]))
