"""The Salesforce stand-in: OAuth client credentials, Task create and CallObject query."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any, Unpack
from urllib.parse import parse_qs

from .base import (
    Reply,
    StandInOptions,
    StandInServer,
    _bearer,
    _json_object,
    _known,
    _Refused,
)

_API_PATH = re.compile(r"^/services/data/v\d+\.\d+/(sobjects/Task/?|query/?)$")
_CALL_OBJECT_QUERY = re.compile(
    r"^SELECT Id FROM Task WHERE CallObject = '((?:[^'\\]|\\.)*)'(?: LIMIT \d+)?$"
)
_SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


class SalesforceStandIn(StandInServer):
    """Salesforce's OAuth token endpoint and REST API for Tasks. ``known``: ids that
    exist, per object (``{"Lead": {...}}``); None accepts any well-formed id."""

    name = "Salesforce"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        **options: Unpack[StandInOptions],
    ) -> None:
        super().__init__(**options)
        self._client_id = client_id
        self._client_secret = client_secret
        self._tokens: set[str] = set()
        self.tokens_issued = 0

    def reset(self) -> None:
        """Forget records, requests, faults, and every token issued."""
        super().reset()
        with self._lock:
            self._tokens.clear()
            self.tokens_issued = 0

    def expire_tokens(self) -> None:
        """Every access token issued so far is refused from now on (401)."""
        with self._lock:
            self._tokens.clear()

    def operation(self, method: str, path: str) -> str | None:
        if method == "POST" and path == "/services/oauth2/token":
            return "token"
        match = _API_PATH.match(path)
        if match is None:
            return None
        if method == "POST" and match.group(1).startswith("sobjects"):
            return "create"
        if method == "GET" and match.group(1).startswith("query"):
            return "lookup"
        return None

    def authorized(self, headers: Any, operation: str) -> bool:
        if operation == "token":
            return True  # the client credentials are checked in the body
        with self._lock:
            return _bearer(headers) in self._tokens

    def unauthorized(self) -> Reply:
        return Reply(
            401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        )

    def bad_request(self, message: str) -> Reply:
        return Reply(400, [{"message": message, "errorCode": "INVALID_FIELD"}])

    def handle(
        self, operation: str, path: str, query: dict[str, list[str]], body: bytes, headers: Any
    ) -> Reply:
        if operation == "token":
            return self._token(body, headers)
        if operation == "lookup":
            return self._query(query)
        return self._create(_json_object(body))

    def _token(self, body: bytes, headers: Any) -> Reply:
        if "application/x-www-form-urlencoded" not in str(headers.get("Content-Type", "")):
            return Reply(400, {"error": "invalid_request", "error_description": "form body"})
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return Reply(
                400, {"error": "unsupported_grant_type", "error_description": "grant type"}
            )
        if not (
            secrets.compare_digest(form.get("client_id", "").encode(), self._client_id.encode())
            and secrets.compare_digest(
                form.get("client_secret", "").encode(), self._client_secret.encode()
            )
        ):
            return Reply(
                400,
                {"error": "invalid_client", "error_description": "invalid client credentials"},
            )
        token = "00Dstandin!" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
            self.tokens_issued += 1
        return Reply(
            200,
            {
                "access_token": token,
                "instance_url": self.url,
                "id": f"{self.url}/id/00Dstandin/005standin",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "signature": "standin",
            },
        )

    def _create(self, fields: dict[str, Any]) -> Reply:
        if fields.get("TaskSubtype") != "Call":
            raise _Refused("TaskSubtype must be Call for a call.")
        if fields.get("CallType") not in ("Inbound", "Outbound", "Internal"):
            raise _Refused("CallType: bad value for restricted picklist field.")
        if not fields.get("Status") or not fields.get("Subject"):
            raise _Refused("Required fields are missing: [Status, Subject]")
        who, what = fields.get("WhoId"), fields.get("WhatId")
        if not who and not what:
            raise _Refused("A call Task needs a WhoId or a WhatId.")
        on = []
        if who:
            kind = {"00Q": "Lead", "003": "Contact"}.get(str(who)[:3])
            if kind is None or not _SALESFORCE_ID.match(str(who)):
                raise _Refused(f"WhoId: id value of incorrect type: {who}")
            if not _known(self.known, kind, str(who)):
                raise _Refused(f"WhoId: entity is deleted or does not exist: {who}")
            on.append((kind, str(who)))
        if what:
            if not _SALESFORCE_ID.match(str(what)):
                raise _Refused(f"WhatId: id value of incorrect type: {what}")
            on.append(("record", str(what)))
        task_id = f"00T5g{self._new_id():013d}"
        self._store({"Id": task_id, **fields}, on)
        return Reply(201, {"id": task_id, "success": True, "errors": []})

    def _query(self, query: dict[str, list[str]]) -> Reply:
        soql = (query.get("q") or [""])[0].strip()
        match = _CALL_OBJECT_QUERY.match(soql)
        if match is None:
            return Reply(
                400,
                [
                    {
                        "message": "The stand-in answers only SELECT Id FROM Task WHERE "
                        "CallObject = '...'",
                        "errorCode": "MALFORMED_QUERY",
                    }
                ],
            )
        value = re.sub(r"\\(.)", r"\1", match.group(1))
        with self._lock:
            found = [r for r in self.records if r.get("CallObject") == value]
        return Reply(
            200,
            {
                "totalSize": len(found[:1]),
                "done": True,
                "records": [{"attributes": {"type": "Task"}, "Id": r["Id"]} for r in found[:1]],
            },
        )

    def title_of(self, record: dict[str, Any]) -> str:
        return str(record.get("Subject", record["Id"]))
