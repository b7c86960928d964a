"""The emulator served over HTTP: ``/ibp_api.php`` and the ``/_sandbox/`` control endpoints.

Pure standard library (no Django, no lxml), so tests, benchmarks and the
``clicktoagent_sandbox`` management command can all run it. The manual is docs/sandbox.md.
"""

from __future__ import annotations

import json
import logging
import math
import re
import socket
import socketserver
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from ...loopback import LoopbackServer
from .account import DTD_FAULT_ENCODINGS, PROCESSING_FAULTS
from .emulator import MASK, Emulator, Fault, dtd_response, masked, xml_response

logger = logging.getLogger("clicktoagent.sandbox")

API_PATH: Final = "/ibp_api.php"
CONTROL_PREFIX: Final = "/_sandbox"
_SECRET_IN_TEXT = re.compile(r"((?:secret_)?access_key=)[^&\s\"']*", re.IGNORECASE)
_MAX_BODY_BYTES: Final = 1_000_000

_MALFORMED_BODY: Final = (
    b"<response>\n\t<result>success</result>\n\t<result_description>Request Proc"
)
_HTML_500: Final = (
    b"<html><head><title>500 Internal Server Error</title></head>"
    b"<body><h1>Internal Server Error</h1></body></html>\n"
)


class SandboxServer(Emulator, LoopbackServer):
    """An in-memory DialogTech account served over HTTP on ``host:port``.

    The socket is bound on construction (port 0 picks a free port), so :attr:`url`
    is known before :meth:`start`. Use as a context manager, or call
    :meth:`start`/:meth:`stop`; :meth:`serve_forever` serves in the calling thread.
    """

    def __init__(
        self,
        account: Mapping[str, Any],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
    ) -> None:
        Emulator.__init__(self, account, latency=latency)
        httpd = _HTTPServer((host, port), self)
        LoopbackServer.__init__(
            self, httpd, thread_name=f"clicktoagent-sandbox-{httpd.server_address[1]}"
        )

    @property
    def url(self) -> str:
        return self.base + API_PATH

    def _wake(self) -> None:
        self._stopping.set()

    def __repr__(self) -> str:
        return f"<SandboxServer {self.url}>"


# --------------------------------------------------------------------------- HTTP


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("sandbox: error while handling a request", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server_version = "DialogTechSandbox/1.0"
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return self.server_version

    # ---- plumbing

    @property
    def sandbox(self) -> SandboxServer:
        return cast(_HTTPServer, self.server).sandbox

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = code.value if isinstance(code, HTTPStatus) else code
        logger.debug("%s %s -> %s", self.command, urlsplit(self.path).path, status)

    def log_message(self, format: str, *args: Any) -> None:
        message = _SECRET_IN_TEXT.sub(r"\1" + MASK, format % args)
        secret = self.sandbox._secret
        if secret:
            message = message.replace(secret, MASK)
        logger.debug("sandbox %s: %s", self.address_string(), message)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes | None:
        """The request body; None when an error answer has already been sent."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._send(HTTPStatus.LENGTH_REQUIRED, b"Content-Length required\n", "text/plain")
            return None
        raw_length = self.headers.get("Content-Length", "0") or "0"
        try:
            length = int(raw_length)
        except ValueError:
            length = -1
        if length < 0:
            self._send(HTTPStatus.BAD_REQUEST, b"Bad Content-Length\n", "text/plain")
            return None
        if length > _MAX_BODY_BYTES:
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"Body too large\n", "text/plain")
            return None
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            logger.debug("sandbox: client went away before the answer was sent")
        self.close_connection = True

    def _send_json(self, status: int, payload: Any) -> None:
        body = (json.dumps(payload, sort_keys=True) + "\n").encode()
        self._send(status, body, "application/json")

    def _dispatch(self) -> None:
        self.close_connection = True
        parts = urlsplit(self.path)
        body = self._read_body()
        if body is None:
            return
        if parts.path == API_PATH:
            self._api(parts.query, body)
        elif parts.path == CONTROL_PREFIX or parts.path.startswith(CONTROL_PREFIX + "/"):
            self._control(parts.path[len(CONTROL_PREFIX) :].strip("/"), body)
        else:
            self._send(HTTPStatus.NOT_FOUND, b"<html><body>Not Found</body></html>\n", "text/html")

    # ---- ibp_api.php

    def _api(self, query: str, body: bytes) -> None:
        sandbox = self.sandbox
        received_at = time.time()
        params: dict[str, str] = dict(parse_qsl(query, keep_blank_values=True))
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if self.command == "POST" and content_type in ("", "application/x-www-form-urlencoded"):
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        entry: dict[str, Any] = {
            "received_at": received_at,
            "method": self.command,
            "params": masked(params),
            "fault": None,
            "result": None,
            "sid": None,
            "status": None,
            "description": None,
        }
        if self.command not in ("GET", "POST"):
            entry["status"] = HTTPStatus.METHOD_NOT_ALLOWED.value
            sandbox._append_log(entry)
            self._send(
                HTTPStatus.METHOD_NOT_ALLOWED,
                b"Method Not Allowed\n",
                "text/plain",
                {"Allow": "GET, POST"},
            )
            return

        latency = sandbox.latency
        if latency:
            sandbox._wait(latency)
        fault = sandbox._take_fault(params.get("phone_to_call"))
        name = fault.name if fault else None
        entry["fault"] = name

        if fault is not None and fault.name not in PROCESSING_FAULTS:
            self._unprocessed_fault(fault, entry)
            return

        if fault is not None and fault.name == "latency":
            sandbox._wait(fault.seconds_or_default())
        outcome = sandbox._process(params)
        entry["description"] = outcome.description
        entry["sid"] = outcome.sid

        if fault is None or fault.name == "latency":
            entry["result"] = outcome.result
            entry["status"] = HTTPStatus.OK.value
            sandbox._append_log(entry)
            self._send(
                HTTPStatus.OK,
                xml_response(outcome.result, outcome.description, outcome.sid),
                "text/xml",
            )
        elif fault.name == "http_500":
            entry["status"] = HTTPStatus.INTERNAL_SERVER_ERROR.value
            sandbox._append_log(entry)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, _HTML_500, "text/html")
        elif fault.name == "malformed":
            entry["status"] = HTTPStatus.OK.value
            sandbox._append_log(entry)
            self._send(HTTPStatus.OK, _MALFORMED_BODY, "text/xml")
        elif fault.name in DTD_FAULT_ENCODINGS:
            entry["result"] = outcome.result
            entry["status"] = HTTPStatus.OK.value
            sandbox._append_log(entry)
            body = dtd_response(fault.name, outcome.result, outcome.description, outcome.sid)
            self._send(HTTPStatus.OK, body, "text/xml")
        elif fault.name == "drop":
            sandbox._append_log(entry)
            self.close_connection = True
        elif fault.name == "trickle":
            entry["result"] = outcome.result
            entry["status"] = HTTPStatus.OK.value
            sandbox._append_log(entry)
            self._trickle(
                xml_response(outcome.result, outcome.description, outcome.sid),
                fault.seconds_or_default(),
            )
        else:  # read_timeout
            sandbox._append_log(entry)
            sandbox._wait(fault.seconds_or_default())
            self.close_connection = True

    def _trickle(self, body: bytes, seconds: float) -> None:
        """Headers at once, then the body one byte every ``seconds``."""
        self.close_connection = True
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.flush()
            for index in range(len(body)):
                self.sandbox._wait(seconds)
                if self.sandbox._stopping.is_set():
                    return
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
        except OSError:
            logger.debug("sandbox: client went away during a trickled answer")

    def _unprocessed_fault(self, fault: Fault, entry: dict[str, Any]) -> None:
        sandbox = self.sandbox
        if fault.name == "empty":
            entry["status"] = HTTPStatus.OK.value
            sandbox._append_log(entry)
            self._send(HTTPStatus.OK, b"", "text/xml")
            return
        status = (
            HTTPStatus.SERVICE_UNAVAILABLE
            if fault.name == "http_503"
            else HTTPStatus.TOO_MANY_REQUESTS
        )
        retry_after = str(math.ceil(fault.seconds_or_default()))
        entry["status"] = status.value
        sandbox._append_log(entry)
        body = (
            f"<html><head><title>{status.value} {status.phrase}</title></head>"
            f"<body><h1>{status.phrase}</h1></body></html>\n"
        ).encode()
        self._send(status, body, "text/html", {"Retry-After": retry_after})

    # ---- /_sandbox/...

    def _json_body(self, body: bytes) -> dict[str, Any] | None:
        if not body.strip():
            return {}
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "body is not valid JSON"})
            return None
        if not isinstance(data, dict):
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "body must be a JSON object"})
            return None
        return cast(dict[str, Any], data)

    def _not_allowed(self, allow: str) -> None:
        body = (json.dumps({"error": f"method {self.command} not allowed"}) + "\n").encode()
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, body, "application/json", {"Allow": allow})

    def _control(self, route: str, body: bytes) -> None:
        if route.startswith("agents/"):
            self._agent(unquote(route[len("agents/") :]), body)
            return
        methods = self._control_routes().get(route)
        if methods is None:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "unknown sandbox endpoint"})
        elif self.command not in methods:
            self._not_allowed(", ".join(methods))
        else:
            methods[self.command](body)

    def _control_routes(self) -> dict[str, dict[str, Callable[[bytes], None]]]:
        """Each control endpoint: its methods (in the order of an ``Allow`` header) and
        what each does with the request body."""
        sandbox = self.sandbox

        def answer(key: str, value: Callable[[], object]) -> Callable[[bytes], None]:
            return lambda body: self._send_json(HTTPStatus.OK, {key: value()})

        return {
            "requests": {
                "GET": answer("requests", sandbox.requests),
                "DELETE": answer("cleared", sandbox.clear_requests),
            },
            "faults": {
                "GET": answer("faults", sandbox.faults),
                "POST": self._add_fault,
                "DELETE": answer("cleared", sandbox.clear_faults),
            },
            "agents": {"GET": answer("agents", sandbox.agents)},
            "latency": {
                "GET": answer("latency", lambda: sandbox.latency),
                "POST": self._set_latency,
                "PUT": self._set_latency,
                "DELETE": answer("latency", self._clear_latency),
            },
            "reset": {"POST": answer("reset", self._reset)},
        }

    def _clear_latency(self) -> float:
        self.sandbox.set_latency(0.0)
        return 0.0

    def _reset(self) -> bool:
        self.sandbox.reset()
        return True

    def _set_latency(self, body: bytes) -> None:
        data = self._json_body(body)
        if data is None:
            return
        try:
            self.sandbox.set_latency(data.get("seconds"))  # type: ignore[arg-type]  # checked
        except ValueError as err:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
            return
        self._send_json(HTTPStatus.OK, {"latency": self.sandbox.latency})

    def _add_fault(self, body: bytes) -> None:
        data = self._json_body(body)
        if data is None:
            return
        count = data.get("count", 1)
        count = 1 if count is None else count
        try:
            self.sandbox.add_fault(
                data.get("fault"),  # type: ignore[arg-type]  # checked by add_fault
                count=count,
                seconds=data.get("seconds"),
                phone_to_call=data.get("phone_to_call"),
            )
        except ValueError as err:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
            return
        spec = {
            "fault": data.get("fault"),
            "count": count,
            "seconds": data.get("seconds"),
            "phone_to_call": data.get("phone_to_call"),
        }
        self._send_json(HTTPStatus.CREATED, {"fault": spec})

    def _agent(self, agent_id: str, body: bytes) -> None:
        sandbox = self.sandbox
        if self.command not in ("GET", "POST"):
            self._not_allowed("GET, POST")
            return
        if self.command == "POST":
            data = self._json_body(body)
            if data is None:
                return
            mode = data.get("mode")
            if not isinstance(mode, str) or not mode:
                self._send_json(
                    HTTPStatus.BAD_REQUEST, {"error": "mode must be a non-empty string"}
                )
                return
            try:
                sandbox.set_agent_mode(agent_id, mode)
            except KeyError:
                self._send_json(HTTPStatus.NOT_FOUND, {"error": f"unknown agent {agent_id!r}"})
                return
        for agent in sandbox.agents():
            if agent["agent_id"] == agent_id:
                self._send_json(HTTPStatus.OK, {"agent": agent})
                return
        self._send_json(HTTPStatus.NOT_FOUND, {"error": f"unknown agent {agent_id!r}"})
