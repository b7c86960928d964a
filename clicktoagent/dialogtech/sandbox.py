"""A faithful local emulator of DialogTech's Click-to-Agent API (``ibp_api.php``).

Pure standard library (no Django, no lxml), so tests, benchmarks and the
``clicktoagent_sandbox`` management command can all run it::

    with SandboxServer(load_account("fixtures/sandbox_account.json")) as server:
        requests.get(server.url, params={...})   # server.url ends in /ibp_api.php

What it emulates
----------------
``GET /ibp_api.php`` (``POST`` with a form-encoded body is accepted too; body values
override query values, as PHP's ``$_REQUEST`` does). Every answer to a processed
request is HTTP 200 with ``Content-Type: text/xml`` in the documented form::

    <response>
        <result>success</result>
        <result_description>Request Processed</result_description>
        <sid>170101aabbccddee</sid>
    </response>

A refusal has ``<result>failed</result>``, a ``<result_description>`` naming exactly
what was wrong, and no ``<sid>``. Checks, in order: credentials; ``action``;
required parameters (``queue_id``, ``agent_id``, ``phone_to_call``); unknown queue,
unknown agent, agent not in the queue; agent mode (must be Open, Outbound or
"Busy (Work)"); phone numbers are unformatted digits (7 to 15); ``record`` is 0/1
and ``warning`` 0/1/2/3 (defaults 0 and 1); caller ids are a registered number, a
tracking number, or one of the two numbers being dialled (the agent's phone and
``phone_to_call``). A success sets the agent's mode to "Outbound". A parameter sent
empty counts as absent. The secret access key is never echoed in an answer, a log
message or the request log.

Fault injection
---------------
Faults are chosen per request: first from the queue filled by
:meth:`SandboxServer.add_fault` (or ``POST /_sandbox/faults``), then from the
account file's ``"faults"`` object (keyed by ``phone_to_call``), else none.

``latency``      wait ``seconds`` (default 1), then process and answer normally.
``http_500``     HTTP 500 with a small HTML body.
``http_503``     HTTP 503 with ``Retry-After: <seconds>`` (default 1).
``http_429``     HTTP 429 with ``Retry-After: <seconds>`` (default 1).
``read_timeout`` read the request, then wait ``seconds`` (default 30; cut short when
                 the server stops) without answering, then close the connection.
``drop``         read the request, then close the connection without a byte.
``malformed``    HTTP 200 whose body is not well-formed XML (a truncated answer).
``empty``        HTTP 200 with an empty body.
``trickle``      HTTP 200 with the normal answer, its status line and headers at once,
                 then the body one byte every ``seconds`` (default 1): every read is
                 quick, only a total deadline ends the wait.
``dtd_utf8``     HTTP 200 with the real answer wrapped in a document that declares a
``dtd_utf16le``  DTD with an entity (used in ``<result_description>``), encoded in
``dtd_utf16be``  UTF-8, UTF-16 (little or big endian, with a byte order mark) or
``dtd_utf32``    UTF-32 (with a byte order mark), the encoding declared in
                 ``<?xml ...?>``. A client must refuse a DTD in any encoding.

"Maybe sent": against the real service a 500, a dropped connection, a read timeout
or a garbled answer can all happen *after* DialogTech placed the call, so a client
must treat them as "unknown outcome", never as "not sent". The emulator makes that
concrete: ``http_500``, ``drop``, ``read_timeout``, ``malformed``, ``trickle`` and the
``dtd_*`` faults DO process the call first (when the request is valid the agent goes to
Outbound and a sid is issued and recorded in the request log) and only then fail to
answer properly.
``http_503``, ``http_429`` and ``empty`` answer without processing anything (no
sid, agent mode unchanged); ``latency`` processes normally.

Request log and control endpoints
---------------------------------
Every request to ``/ibp_api.php`` is logged (see :meth:`SandboxServer.requests`)
with credentials masked as ``"***"``. For tests in other processes, JSON endpoints:

``GET /_sandbox/requests``          ``{"requests": [...]}``
``DELETE /_sandbox/requests``       clear the request log
``GET /_sandbox/faults``            ``{"faults": [...]}`` (queued faults)
``POST /_sandbox/faults``           queue a fault: ``{"fault", "count", "seconds",
                                    "phone_to_call"}`` -> 201
``DELETE /_sandbox/faults``         clear queued faults
``GET /_sandbox/agents``            ``{"agents": [...]}`` with current modes
``GET /_sandbox/agents/<id>``       ``{"agent": {...}}``
``POST /_sandbox/agents/<id>``      ``{"mode": "Closed"}`` sets the agent's mode
``POST /_sandbox/reset``            back to the account's initial state, log and
                                    fault queue emptied
"""

from __future__ import annotations

import codecs
import copy
import hmac
import json
import logging
import math
import os
import re
import secrets
import socket
import socketserver
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, cast
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.sax.saxutils import escape

__all__ = [
    "ACTION",
    "API_PATH",
    "AVAILABLE_MODES",
    "DTD_FAULT_ENCODINGS",
    "FAULT_NAMES",
    "PROCESSING_FAULTS",
    "AccountError",
    "SandboxServer",
    "load_account",
    "validate_account",
]

logger = logging.getLogger("clicktoagent.sandbox")

API_PATH: Final = "/ibp_api.php"
CONTROL_PREFIX: Final = "/_sandbox"
ACTION: Final = "clickto.agent"
AVAILABLE_MODES: Final = ("Open", "Outbound", "Busy (Work)")
OUTBOUND_MODE: Final = "Outbound"
REQUIRED_PARAMS: Final = ("queue_id", "agent_id", "phone_to_call")
CREDENTIAL_PARAMS: Final = ("access_key", "secret_access_key")
MASK: Final = "***"

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

_DIGITS = re.compile(r"[0-9]{7,15}")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_SECRET_IN_TEXT = re.compile(r"((?:secret_)?access_key=)[^&\s\"']*", re.IGNORECASE)
_MAX_BODY_BYTES: Final = 1_000_000
_MAX_QUOTED: Final = 40

_MALFORMED_BODY: Final = (
    b"<response>\n\t<result>success</result>\n\t<result_description>Request Proc"
)
_HTML_500: Final = (
    b"<html><head><title>500 Internal Server Error</title></head>"
    b"<body><h1>Internal Server Error</h1></body></html>\n"
)


class AccountError(ValueError):
    """The sandbox account (file or dict) is missing, unreadable or badly shaped."""


# --------------------------------------------------------------------------- account


def _require_str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise AccountError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _require_number(value: Any, where: str) -> str:
    number = _require_str(value, where)
    if not _DIGITS.fullmatch(number):
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


def _check_seconds(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AccountError(f"{where} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise AccountError(f"{where} must be a non-negative number of seconds, got {value!r}")
    return float(value)


def _check_fault_name(value: Any, where: str) -> str:
    if value not in FAULT_NAMES:
        raise AccountError(
            f"{where} must be one of {', '.join(sorted(FAULT_NAMES))}, got {value!r}"
        )
    return cast(str, value)


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
    for i, raw_agent in enumerate(_require_list(data["agents"], f"{source}: agents")):
        where = f"{source}: agents[{i}]"
        agent = _require_dict(raw_agent, where)
        agent_id = _require_str(agent.get("agent_id"), f"{where}.agent_id")
        if agent_id in agent_ids:
            raise AccountError(f"{where}: duplicate agent_id {agent_id!r}")
        agent_ids.add(agent_id)
        _require_str(agent.setdefault("name", agent_id), f"{where}.name")
        _require_number(agent.get("phone"), f"{where}.phone")
        _require_str(agent.get("mode"), f"{where}.mode")

    queue_ids: set[str] = set()
    for i, raw_queue in enumerate(_require_list(data["queues"], f"{source}: queues")):
        where = f"{source}: queues[{i}]"
        queue = _require_dict(raw_queue, where)
        queue_id = _require_str(queue.get("queue_id"), f"{where}.queue_id")
        if queue_id in queue_ids:
            raise AccountError(f"{where}: duplicate queue_id {queue_id!r}")
        queue_ids.add(queue_id)
        _require_str(queue.setdefault("name", queue_id), f"{where}.name")
        members = _require_list(queue.get("agents"), f"{where}.agents")
        for j, member in enumerate(members):
            _require_str(member, f"{where}.agents[{j}]")
            if member not in agent_ids:
                raise AccountError(f"{where}.agents[{j}]: unknown agent_id {member!r}")

    faults = _require_dict(data.setdefault("faults", {}), f"{source}: faults")
    for number, raw_spec in faults.items():
        where = f"{source}: faults[{number!r}]"
        spec = _require_dict(raw_spec, where)
        _check_fault_name(spec.get("fault"), f"{where}.fault")
        _check_seconds(spec.get("seconds"), f"{where}.seconds")
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


# --------------------------------------------------------------------------- helpers


@dataclass
class _Fault:
    name: str
    seconds: float | None = None
    remaining: int = 1
    phone_to_call: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "fault": self.name,
            "count": self.remaining,
            "seconds": self.seconds,
            "phone_to_call": self.phone_to_call,
        }

    def seconds_or_default(self) -> float:
        if self.seconds is not None:
            return self.seconds
        return DEFAULT_FAULT_SECONDS.get(self.name, 0.0)


@dataclass(frozen=True)
class _Outcome:
    result: str
    description: str
    sid: str | None = None


def _quote(value: str) -> str:
    if len(value) > _MAX_QUOTED:
        value = value[:_MAX_QUOTED] + "..."
    return "'" + value + "'"


def _nanp(number: str) -> str:
    """Compare 1NXXNXXXXXX and NXXNXXXXXX as the same number."""
    return number[1:] if len(number) == 11 and number.startswith("1") else number


def _xml_text(text: str) -> str:
    return escape(_XML_INVALID.sub("\ufffd", text))


def xml_response(result: str, description: str, sid: str | None = None) -> bytes:
    """The answer body in the documented form (ASCII; other characters as references)."""
    lines = [
        "<response>",
        f"\t<result>{_xml_text(result)}</result>",
        f"\t<result_description>{_xml_text(description)}</result_description>",
    ]
    if sid is not None:
        lines.append(f"\t<sid>{_xml_text(sid)}</sid>")
    lines.append("</response>")
    return ("\n".join(lines) + "\n").encode("ascii", "xmlcharrefreplace")


def dtd_response(fault: str, result: str, description: str, sid: str | None = None) -> bytes:
    """The answer of a ``dtd_*`` fault: a DTD declaring an entity the answer uses."""
    codec, bom, declared = DTD_FAULT_ENCODINGS[fault]
    placeholder = "DESCRIPTION-ENTITY"
    text = xml_response(result, placeholder, sid).decode("ascii")
    value = escape(_XML_INVALID.sub("\ufffd", description), {'"': "&#34;", "%": "&#37;"})
    document = (
        f'<?xml version="1.0" encoding="{declared}"?>\n'
        f'<!DOCTYPE response [<!ENTITY description "{value}">]>\n'
        + text.replace(placeholder, "&description;")
    )
    return bom + document.encode(codec)


def _masked(params: Mapping[str, str]) -> dict[str, str]:
    return {key: (MASK if key in CREDENTIAL_PARAMS else value) for key, value in params.items()}


# --------------------------------------------------------------------------- server


class SandboxServer:
    """An in-memory DialogTech account served over HTTP on ``host:port``.

    The socket is bound on construction (port 0 picks a free port), so :attr:`url`
    is known before :meth:`start`. Use as a context manager, or call
    :meth:`start`/:meth:`stop`; :meth:`serve_forever` serves in the calling thread.
    """

    def __init__(self, account: Mapping[str, Any], host: str = "127.0.0.1", port: int = 0) -> None:
        self._initial = validate_account(account)
        self._access_key: str = self._initial["access_key"]
        self._secret: str = self._initial["secret_access_key"]
        self._lock = threading.RLock()
        self._log: list[dict[str, Any]] = []
        self._queued: list[_Fault] = []
        self._issued: set[str] = set()
        self._agents: dict[str, dict[str, Any]] = {}
        self._queues: dict[str, dict[str, Any]] = {}
        self._registered: frozenset[str] = frozenset()
        self._tracking: frozenset[str] = frozenset()
        self._file_faults: dict[str, _Fault] = {}
        self._reset_state()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._serving = False
        self._closed = False
        self._httpd = _HTTPServer((host, port), self)

    # ---- lifecycle

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base(self) -> str:
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base + API_PATH

    def start(self) -> Self:
        """Serve in a daemon thread; return self."""
        with self._lock:
            if self._closed:
                raise RuntimeError("SandboxServer has been stopped")
            if self._serving:
                return self
            self._serving = True
        self._thread = threading.Thread(
            target=self._run, name=f"clicktoagent-sandbox-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._httpd.serve_forever(poll_interval=0.02)
        finally:
            with self._lock:
                self._serving = False

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (from another thread) or an
        exception such as ``KeyboardInterrupt``."""
        with self._lock:
            if self._closed:
                raise RuntimeError("SandboxServer has been stopped")
            if self._serving:
                raise RuntimeError("SandboxServer is already serving")
            self._serving = True
        self._run()

    def stop(self) -> None:
        """Stop serving, wake hanging faults and close the socket (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            serving = self._serving
        self._stopping.set()
        if serving:
            self._httpd.shutdown()
        self._httpd.server_close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<SandboxServer {self.url}>"

    # ---- state

    def _reset_state(self) -> None:
        account = copy.deepcopy(self._initial)
        with self._lock:
            self._agents = {agent["agent_id"]: agent for agent in account["agents"]}
            self._queues = {queue["queue_id"]: queue for queue in account["queues"]}
            self._registered = frozenset(_nanp(n) for n in account["registered_numbers"])
            self._tracking = frozenset(_nanp(n) for n in account["tracking_numbers"])
            self._file_faults = {
                number: _Fault(spec["fault"], _check_seconds(spec.get("seconds"), "seconds"))
                for number, spec in account["faults"].items()
            }

    def reset(self) -> None:
        """Back to the account's initial state; empty the request log and fault queue."""
        with self._lock:
            self._reset_state()
            self._log.clear()
            self._queued.clear()

    def agents(self) -> list[dict[str, Any]]:
        """Copies of the agents with their current modes."""
        with self._lock:
            return [dict(agent) for agent in self._agents.values()]

    def agent_mode(self, agent_id: str) -> str:
        with self._lock:
            return str(self._agents[agent_id]["mode"])

    def set_agent_mode(self, agent_id: str, mode: str) -> None:
        if not isinstance(mode, str) or not mode:
            raise ValueError("mode must be a non-empty string")
        with self._lock:
            if agent_id not in self._agents:
                raise KeyError(agent_id)
            self._agents[agent_id]["mode"] = mode

    # ---- request log

    def requests(self) -> list[dict[str, Any]]:
        """A copy of the request log, oldest first.

        Each entry: ``received_at`` (time.time()), ``method``, ``params`` (credentials
        as ``"***"``), ``fault`` (name or None), ``result`` (the ``<result>`` answered,
        None when no well-formed answer was sent), ``sid`` (of a call placed, even if
        the answer was lost), ``status`` (HTTP status sent, None if none),
        ``description`` (the processing's result_description, if processed).
        """
        with self._lock:
            return [copy.deepcopy(entry) for entry in self._log]

    def clear_requests(self) -> int:
        with self._lock:
            count = len(self._log)
            self._log.clear()
            return count

    def _append_log(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._log.append(entry)

    # ---- faults

    def add_fault(
        self,
        name: str,
        count: int = 1,
        seconds: float | None = None,
        phone_to_call: str | None = None,
    ) -> None:
        """Queue a fault for the next ``count`` requests (with that ``phone_to_call``
        only, when given)."""
        try:
            _check_fault_name(name, "fault")
            checked_seconds = _check_seconds(seconds, "seconds")
        except AccountError as err:
            raise ValueError(str(err)) from None
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        if phone_to_call is not None and (not isinstance(phone_to_call, str) or not phone_to_call):
            raise ValueError("phone_to_call must be a non-empty string or None")
        with self._lock:
            self._queued.append(_Fault(name, checked_seconds, count, phone_to_call))

    def faults(self) -> list[dict[str, Any]]:
        """The queued faults still pending."""
        with self._lock:
            return [fault.as_dict() for fault in self._queued]

    def clear_faults(self) -> int:
        with self._lock:
            count = len(self._queued)
            self._queued.clear()
            return count

    def _take_fault(self, phone_to_call: str | None) -> _Fault | None:
        with self._lock:
            for index, fault in enumerate(self._queued):
                if fault.phone_to_call is None or fault.phone_to_call == phone_to_call:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._queued[index]
                    return _Fault(fault.name, fault.seconds, 1, fault.phone_to_call)
            if phone_to_call is not None and phone_to_call in self._file_faults:
                return self._file_faults[phone_to_call]
        return None

    def _wait(self, seconds: float) -> None:
        """Sleep, but wake up as soon as the server stops."""
        self._stopping.wait(seconds)

    # ---- the API

    def _check_credentials(self, params: Mapping[str, str]) -> str | None:
        access_key = params.get("access_key", "")
        secret = params.get("secret_access_key", "")
        if not access_key:
            return "Invalid access credentials: access_key is missing"
        if not secret:
            return "Invalid access credentials: secret_access_key is missing"
        ok_access = hmac.compare_digest(access_key.encode(), self._access_key.encode())
        ok_secret = hmac.compare_digest(secret.encode(), self._secret.encode())
        if not (ok_access and ok_secret):
            return "Invalid access credentials"
        return None

    def _process(self, params: Mapping[str, str]) -> _Outcome:
        """Validate one click-to-agent request and place the call (in memory)."""
        problem = self._check_credentials(params)
        if problem:
            return _Outcome("failed", problem)
        action = params.get("action", "")
        if not action:
            return _Outcome("failed", "Missing required parameter: action")
        if action != ACTION:
            return _Outcome(
                "failed", f"Invalid action: {_quote(action)} (only {ACTION} is supported)"
            )
        for name in REQUIRED_PARAMS:
            if not params.get(name, ""):
                return _Outcome("failed", f"Missing required parameter: {name}")
        queue_id = params["queue_id"]
        agent_id = params["agent_id"]
        phone_to_call = params["phone_to_call"]
        first_callerid = params.get("first_callerid", "")
        second_callerid = params.get("second_callerid", "")

        with self._lock:
            queue = self._queues.get(queue_id)
            if queue is None:
                return _Outcome("failed", f"Invalid queue_id: queue {_quote(queue_id)} not found")
            agent = self._agents.get(agent_id)
            if agent is None:
                return _Outcome("failed", f"Invalid agent_id: agent {_quote(agent_id)} not found")
            if agent_id not in queue["agents"]:
                return _Outcome(
                    "failed",
                    f"Invalid agent_id: agent {_quote(agent_id)} is not a member of "
                    f"queue {_quote(queue_id)}",
                )
            mode = str(agent["mode"])
            if mode.casefold() not in {m.casefold() for m in AVAILABLE_MODES}:
                return _Outcome(
                    "failed",
                    f"Agent {_quote(agent_id)} is unavailable: mode is {_quote(mode)} "
                    f"(must be Open, Outbound or Busy (Work))",
                )
            for name, value in (
                ("phone_to_call", phone_to_call),
                ("first_callerid", first_callerid),
                ("second_callerid", second_callerid),
            ):
                if value and not _DIGITS.fullmatch(value):
                    return _Outcome(
                        "failed",
                        f"Invalid phone number for {name}: {_quote(value)} "
                        f"(must be an unformatted phone number, digits only)",
                    )
            record = params.get("record", "") or "0"
            if record not in ("0", "1"):
                return _Outcome("failed", f"Invalid record: {_quote(record)} (must be 0 or 1)")
            warning = params.get("warning", "") or "1"
            if warning not in ("0", "1", "2", "3"):
                return _Outcome(
                    "failed", f"Invalid warning: {_quote(warning)} (must be 0, 1, 2 or 3)"
                )
            dialled = {_nanp(str(agent["phone"])), _nanp(phone_to_call)}
            for name, value in (
                ("first_callerid", first_callerid),
                ("second_callerid", second_callerid),
            ):
                if not value:
                    continue
                number = _nanp(value)
                if number not in self._registered | self._tracking | dialled:
                    return _Outcome(
                        "failed",
                        f"Invalid {name}: {_quote(value)} is not a registered number, a "
                        f"tracking number, or one of the numbers being dialed",
                    )
            sid = secrets.token_hex(8)
            while sid in self._issued:
                sid = secrets.token_hex(8)
            self._issued.add(sid)
            agent["mode"] = OUTBOUND_MODE
        logger.debug("sandbox placed call sid=%s agent=%s queue=%s", sid, agent_id, queue_id)
        return _Outcome("success", "Request Processed", sid)


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
            "params": _masked(params),
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

    def _unprocessed_fault(self, fault: _Fault, entry: dict[str, Any]) -> None:
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
        sandbox = self.sandbox
        method = self.command
        if route == "requests":
            if method == "GET":
                self._send_json(HTTPStatus.OK, {"requests": sandbox.requests()})
            elif method == "DELETE":
                self._send_json(HTTPStatus.OK, {"cleared": sandbox.clear_requests()})
            else:
                self._not_allowed("GET, DELETE")
        elif route == "faults":
            if method == "GET":
                self._send_json(HTTPStatus.OK, {"faults": sandbox.faults()})
            elif method == "POST":
                self._add_fault(body)
            elif method == "DELETE":
                self._send_json(HTTPStatus.OK, {"cleared": sandbox.clear_faults()})
            else:
                self._not_allowed("GET, POST, DELETE")
        elif route == "agents":
            if method == "GET":
                self._send_json(HTTPStatus.OK, {"agents": sandbox.agents()})
            else:
                self._not_allowed("GET")
        elif route.startswith("agents/"):
            self._agent(unquote(route[len("agents/") :]), body)
        elif route == "reset":
            if method == "POST":
                sandbox.reset()
                self._send_json(HTTPStatus.OK, {"reset": True})
            else:
                self._not_allowed("POST")
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "unknown sandbox endpoint"})

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
