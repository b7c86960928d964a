"""Local stand-ins of the CRM APIs the write-back calls: real HTTP servers on loopback.

Pure standard library, so tests, the demo (``clicktoagent_sandbox --crm``) and host
projects can run them::

    with HubSpotStandIn(token="pat-test") as hubspot:
        ...  # HUBSPOT_API_BASE_URL = hubspot.url; hubspot.records lists the calls

Each one answers the calls of the write-back the way its CRM documents them, and
refuses (as its CRM does, with its error body) a request of the wrong shape: another
path, a missing or wrong credential, a missing required field, an association of
the wrong kind, a record that does not exist (when ``known`` ids are given).

- :class:`HubSpotStandIn`: ``POST /crm/v3/objects/calls`` (Bearer token, properties,
  HUBSPOT_DEFINED association) and ``POST /crm/v3/objects/calls/search`` (EQ filter);
- :class:`SalesforceStandIn`: ``POST /services/oauth2/token`` (client credentials),
  ``POST /services/data/vXX.X/sobjects/Task/`` and ``GET /services/data/vXX.X/query/``
  (``SELECT Id FROM Task WHERE CallObject = '...'``); :meth:`SalesforceStandIn.expire_tokens`
  makes every token issued so far answer 401, as an expired session does;
- :class:`PipedriveStandIn`: ``POST /api/v1/callLogs`` (``x-api-token``).

Faults, queued with :meth:`StandInServer.add_fault` for the next request of an
operation (``create``, ``lookup``, ``token`` or ``any``):

``unauthorized``          HTTP 401 with the CRM's error body;
``rate_limited``          HTTP 429 with ``Retry-After: <seconds>``;
``server_error``          HTTP 500;
``hang``                  read the request, then wait ``seconds`` without answering
                          (nothing is created);
``timeout_after_create``  create the record, then wait ``seconds`` without answering:
                          the client times out although the record exists.

``GET /_standin/records`` lists what was created (JSON) and ``GET /`` shows it as a
page, record by record, as a CRM timeline would. Credentials are never logged or shown.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

# The stand-ins' credentials in the demo (``clicktoagent_sandbox --crm``): not secrets.
STANDIN_HUBSPOT_TOKEN = "standin-hubspot-token"  # noqa: S105
STANDIN_SALESFORCE_CLIENT_ID = "standin-salesforce-client-id"
STANDIN_SALESFORCE_CLIENT_SECRET = "standin-salesforce-client-secret"  # noqa: S105
STANDIN_PIPEDRIVE_TOKEN = "standin-pipedrive-token"  # noqa: S105

FAULTS = ("unauthorized", "rate_limited", "server_error", "hang", "timeout_after_create")
OPERATIONS = ("create", "lookup", "token", "any")


@dataclass
class _Fault:
    kind: str
    operation: str
    seconds: float
    times: int


@dataclass
class Reply:
    """What a handler answers."""

    status: int
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] | None = None


class StandInServer:
    """A CRM stand-in on ``host:port`` (port 0 picks a free one), bound on construction."""

    name: ClassVar[str] = "CRM"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.RLock()
        self._faults: list[_Fault] = []
        self.records: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._httpd = _HTTPServer((host, port), self)

    # -- lifecycle --------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{int(port)}"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            name=f"clicktoagent-{self.name.lower()}-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget records, requests and queued faults."""
        with self._lock:
            self._faults.clear()
            self.records.clear()
            self.requests.clear()

    # -- faults -----------------------------------------------------------------------

    def add_fault(
        self, kind: str, *, operation: str = "create", seconds: float = 1.0, times: int = 1
    ) -> None:
        """Answer the next ``times`` requests of ``operation`` with fault ``kind``."""
        if kind not in FAULTS:
            raise ValueError(f"Unknown fault {kind!r}; one of {', '.join(FAULTS)}.")
        if operation not in OPERATIONS:
            raise ValueError(f"Unknown operation {operation!r}; one of {', '.join(OPERATIONS)}.")
        with self._lock:
            self._faults.append(_Fault(kind, operation, seconds, times))

    def _take_fault(self, operation: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.operation in (operation, "any"):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def records_of(self, object_type: str, object_id: str) -> list[dict[str, Any]]:
        """The calls logged on one record."""
        with self._lock:
            return [r for r in self.records if (object_type, object_id) in r["_on"]]

    # -- what each CRM defines ----------------------------------------------------------

    def operation(self, method: str, path: str) -> str | None:
        """``create``, ``lookup`` or ``token`` for a path this CRM serves, else None."""
        raise NotImplementedError

    def authorized(self, headers: Any, operation: str) -> bool:
        raise NotImplementedError

    def unauthorized(self) -> Reply:
        raise NotImplementedError

    def handle(
        self, operation: str, path: str, query: dict[str, list[str]], body: bytes, headers: Any
    ) -> Reply:
        raise NotImplementedError

    def bad_request(self, message: str) -> Reply:
        raise NotImplementedError

    def server_error(self) -> Reply:
        return Reply(500, {"message": f"{self.name} stand-in: internal error (injected)"})

    # -- plumbing ---------------------------------------------------------------------

    def _store(self, record: dict[str, Any], on: Iterable[tuple[str, str]]) -> dict[str, Any]:
        with self._lock:
            record["_on"] = list(on)
            record["_created"] = datetime.now(tz=UTC).isoformat()
            self.records.append(record)
        return record

    def _serve(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if handler.command == "GET" and parts.path in ("/", "/_standin/records"):
            self._show(handler, page=parts.path == "/")
            return
        operation = self.operation(handler.command, parts.path)
        with self._lock:
            self.requests.append(
                {"method": handler.command, "path": parts.path, "operation": operation}
            )
        if operation is None:
            _send(handler, Reply(404, {"message": f"No such {self.name} API path."}))
            return
        fault = self._take_fault(operation)
        if fault is not None and fault.kind == "hang":
            self._stopping.wait(fault.seconds)
            handler.close_connection = True
            return
        if fault is not None and fault.kind == "unauthorized":
            _send(handler, self.unauthorized())
            return
        if fault is not None and fault.kind == "rate_limited":
            reply = Reply(
                429,
                {"message": "You have reached your rate limit (injected)."},
                {"Retry-After": f"{fault.seconds:g}"},
            )
            _send(handler, reply)
            return
        if fault is not None and fault.kind == "server_error":
            _send(handler, self.server_error())
            return
        if not self.authorized(handler.headers, operation):
            _send(handler, self.unauthorized())
            return
        try:
            reply = self.handle(operation, parts.path, parse_qs(parts.query), body, handler.headers)
        except _Refused as err:
            reply = self.bad_request(str(err))
        if fault is not None and fault.kind == "timeout_after_create":
            # Created (or done) already: the answer never comes in time.
            self._stopping.wait(fault.seconds)
            handler.close_connection = True
            return
        _send(handler, reply)

    def _show(self, handler: _Handler, *, page: bool) -> None:
        with self._lock:
            records = [dict(r) for r in self.records]
        if not page:
            _send(handler, Reply(200, {"records": records}))
            return
        by_record: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            for object_type, object_id in record["_on"]:
                by_record.setdefault(f"{object_type} {object_id}", []).append(record)
        sections = "".join(
            f"<h2>{html.escape(name)}</h2><ul>"
            + "".join(
                f"<li><strong>{html.escape(str(self.title_of(r)))}</strong> "
                f"<small>{html.escape(r['_created'])}</small>"
                f"<pre>{html.escape(json.dumps(self.shown(r), indent=2))}</pre></li>"
                for r in reversed(calls)
            )
            + "</ul>"
            for name, calls in sorted(by_record.items())
        )
        text = (
            f"<!doctype html><title>{self.name} stand-in</title>"
            f"<h1>{self.name} stand-in: calls logged on records</h1>"
            + (sections or "<p>No call logged yet.</p>")
        ).encode()
        _send(handler, Reply(200, text, {"Content-Type": "text/html; charset=utf-8"}))

    def title_of(self, record: dict[str, Any]) -> str:
        return str(record.get("id", ""))

    def shown(self, record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if not k.startswith("_")}


class _Refused(Exception):
    """The request's shape is wrong: answered with the CRM's 400 body."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], standin: StandInServer) -> None:
        self.standin = standin
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.standin._serve(self)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request line may carry a query; nothing is printed


def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    headers = dict(reply.headers or {})
    if isinstance(reply.body, bytes):
        data = reply.body
    else:
        data = json.dumps(reply.body).encode() if reply.body is not None else b""
        headers.setdefault("Content-Type", "application/json;charset=utf-8")
    handler.send_response(reply.status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise _Refused("The body is not JSON.") from None
    if not isinstance(data, dict):
        raise _Refused("The body must be a JSON object.")
    return data


def _bearer(headers: Any) -> str:
    scheme, _, token = str(headers.get("Authorization", "")).partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _known(known: dict[str, set[str]] | None, object_type: str, object_id: str) -> bool:
    return known is None or object_id in known.get(object_type, set())


# -- HubSpot ----------------------------------------------------------------------------

HUBSPOT_CALL_STATUSES = (
    "BUSY",
    "CALLING_CRM_USER",
    "CANCELED",
    "COMPLETED",
    "CONNECTING",
    "FAILED",
    "IN_PROGRESS",
    "MISSED",
    "NO_ANSWER",
    "QUEUED",
    "RINGING",
)
HUBSPOT_CALL_ASSOCIATIONS = {194: "contact", 182: "company", 206: "deal", 220: "ticket"}


class HubSpotStandIn(StandInServer):
    """HubSpot's CRM objects API for calls. ``known``: ids per object type that exist
    (``{"contact": {"501"}}``); None accepts any id."""

    name = "HubSpot"

    def __init__(
        self,
        *,
        token: str,
        known: dict[str, set[str]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self._token = token
        self.known = known
        self._next_id = 9000000

    def operation(self, method: str, path: str) -> str | None:
        if method == "POST" and path == "/crm/v3/objects/calls":
            return "create"
        if method == "POST" and path == "/crm/v3/objects/calls/search":
            return "lookup"
        return None

    def authorized(self, headers: Any, operation: str) -> bool:
        return secrets.compare_digest(_bearer(headers).encode(), self._token.encode())

    def unauthorized(self) -> Reply:
        return Reply(
            401,
            {
                "status": "error",
                "message": "Authentication credentials not found.",
                "category": "INVALID_AUTHENTICATION",
            },
        )

    def bad_request(self, message: str) -> Reply:
        return Reply(
            400, {"status": "error", "message": message, "category": "VALIDATION_ERROR"}
        )

    def handle(
        self, operation: str, path: str, query: dict[str, list[str]], body: bytes, headers: Any
    ) -> Reply:
        data = _json_object(body)
        if operation == "lookup":
            return self._search(data)
        properties = data.get("properties")
        if not isinstance(properties, dict) or not properties.get("hs_timestamp"):
            raise _Refused("Property values were not valid: hs_timestamp is required.")
        if properties.get("hs_call_direction") not in (None, "INBOUND", "OUTBOUND"):
            raise _Refused("Property values were not valid: hs_call_direction.")
        status = properties.get("hs_call_status")
        if status is not None and status not in HUBSPOT_CALL_STATUSES:
            raise _Refused(f"Property values were not valid: hs_call_status {status!r}.")
        on = []
        for association in data.get("associations") or []:
            to = association.get("to") if isinstance(association, dict) else None
            types = association.get("types") if isinstance(association, dict) else None
            if not isinstance(to, dict) or not to.get("id") or not isinstance(types, list):
                raise _Refused("Each association needs to.id and types.")
            for kind in types:
                if not isinstance(kind, dict) or kind.get("associationCategory") != (
                    "HUBSPOT_DEFINED"
                ):
                    raise _Refused("associationCategory must be HUBSPOT_DEFINED.")
                object_type = HUBSPOT_CALL_ASSOCIATIONS.get(kind.get("associationTypeId", 0))
                if object_type is None:
                    raise _Refused(
                        f"associationTypeId {kind.get('associationTypeId')!r} is not a call "
                        "association."
                    )
                if not _known(self.known, object_type, str(to["id"])):
                    raise _Refused(f"No {object_type} with id {to['id']} exists.")
                on.append((object_type, str(to["id"])))
        with self._lock:
            self._next_id += 1
            call_id = str(self._next_id)
        now = datetime.now(tz=UTC).isoformat().replace("+00:00", "Z")
        record = self._store(
            {
                "id": call_id,
                "properties": {str(k): str(v) for k, v in properties.items()},
                "associations": data.get("associations") or [],
            },
            on,
        )
        return Reply(201, _hubspot_object(record, now))

    def _search(self, data: dict[str, Any]) -> Reply:
        try:
            (group,) = data["filterGroups"]
            (condition,) = group["filters"]
            name, operator, value = (
                condition["propertyName"],
                condition["operator"],
                condition["value"],
            )
        except (KeyError, TypeError, ValueError):
            raise _Refused("The stand-in searches one EQ filter in one filter group.") from None
        if operator != "EQ":
            raise _Refused("The stand-in searches with operator EQ only.")
        with self._lock:
            found = [r for r in self.records if r["properties"].get(name) == value]
        now = datetime.now(tz=UTC).isoformat().replace("+00:00", "Z")
        return Reply(
            200, {"total": len(found), "results": [_hubspot_object(r, now) for r in found[:1]]}
        )

    def title_of(self, record: dict[str, Any]) -> str:
        return str(record["properties"].get("hs_call_title", record["id"]))


def _hubspot_object(record: dict[str, Any], now: str) -> dict[str, Any]:
    return {
        "id": record["id"],
        "properties": record["properties"],
        "createdAt": now,
        "updatedAt": now,
        "archived": False,
    }


# -- Salesforce -------------------------------------------------------------------------

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
        known: dict[str, set[str]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self._client_id = client_id
        self._client_secret = client_secret
        self._tokens: set[str] = set()
        self.tokens_issued = 0
        self.known = known
        self._next_id = 0

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
        with self._lock:
            self._next_id += 1
            task_id = f"00T5g{self._next_id:013d}"
        self._store({"Id": task_id, **fields}, on)
        return Reply(201, {"id": task_id, "success": True, "errors": []})

    def _query(self, query: dict[str, list[str]]) -> Reply:
        soql = (query.get("q") or [""])[0].strip()
        match = _CALL_OBJECT_QUERY.match(soql)
        if match is None:
            return Reply(
                400,
                [{"message": "The stand-in answers only SELECT Id FROM Task WHERE "
                  "CallObject = '...'", "errorCode": "MALFORMED_QUERY"}],
            )
        value = re.sub(r"\\(.)", r"\1", match.group(1))
        with self._lock:
            found = [r for r in self.records if r.get("CallObject") == value]
        return Reply(
            200,
            {
                "totalSize": len(found[:1]),
                "done": True,
                "records": [
                    {"attributes": {"type": "Task"}, "Id": r["Id"]} for r in found[:1]
                ],
            },
        )

    def title_of(self, record: dict[str, Any]) -> str:
        return str(record.get("Subject", record["Id"]))


# -- Pipedrive --------------------------------------------------------------------------

PIPEDRIVE_OUTCOMES = (
    "connected",
    "no_answer",
    "left_message",
    "left_voicemail",
    "wrong_number",
    "busy",
)
_PIPEDRIVE_TIME = "%Y-%m-%d %H:%M:%S"


class PipedriveStandIn(StandInServer):
    """Pipedrive's call logs API. ``known``: ids that exist per ``person``,
    ``organization`` and ``deal``; None accepts any."""

    name = "Pipedrive"

    def __init__(
        self,
        *,
        token: str,
        known: dict[str, set[str]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self._token = token
        self.known = known

    def operation(self, method: str, path: str) -> str | None:
        return "create" if method == "POST" and path == "/api/v1/callLogs" else None

    def authorized(self, headers: Any, operation: str) -> bool:
        given = str(headers.get("x-api-token", ""))
        return secrets.compare_digest(given.encode(), self._token.encode())

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
