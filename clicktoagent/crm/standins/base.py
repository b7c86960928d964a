"""What every CRM stand-in shares: the server, its faults, replies and request helpers."""

from __future__ import annotations

import html
import json
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, TypedDict, Unpack
from urllib.parse import parse_qs, urlsplit

from ...loopback import LoopbackServer

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


class StandInOptions(TypedDict, total=False):
    """What every stand-in takes besides its credentials."""

    known: dict[str, set[str]] | None  # ids that exist, per object type; None accepts any
    host: str
    port: int  # 0 picks a free one


class StandInServer(LoopbackServer):
    """A CRM stand-in on ``host:port`` (port 0 picks a free one), bound on construction."""

    name: ClassVar[str] = "CRM"
    id_base: ClassVar[int] = 0  # records get ids id_base + 1, id_base + 2, ...

    def __init__(
        self,
        *,
        known: dict[str, set[str]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._lock = threading.RLock()
        self._faults: list[_Fault] = []
        self.known = known
        self.records: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._next_id = self.id_base
        super().__init__(
            _HTTPServer((host, port), self), thread_name=f"clicktoagent-{self.name.lower()}-standin"
        )

    @property
    def url(self) -> str:
        return self.base

    def _wake(self) -> None:
        self._stopping.set()

    def _new_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

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


class TokenStandIn(StandInServer):
    """A stand-in that authorizes with one API token."""

    def __init__(self, *, token: str, **options: Unpack[StandInOptions]) -> None:
        super().__init__(**options)
        self._token = token

    def _is_token(self, given: str) -> bool:
        return secrets.compare_digest(given.encode(), self._token.encode())


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
