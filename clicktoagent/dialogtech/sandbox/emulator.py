"""The emulator's rules: one DialogTech account in memory, its checks, request log and
fault queue, and the answers in DialogTech's XML form. No HTTP here (see server.py).
"""

from __future__ import annotations

import copy
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from xml.sax.saxutils import escape

from .account import (
    DEFAULT_FAULT_SECONDS,
    DIGITS,
    DTD_FAULT_ENCODINGS,
    AccountError,
    check_fault_name,
    check_seconds,
    validate_account,
)

logger = logging.getLogger("clicktoagent.sandbox")

ACTION: Final = "clickto.agent"
AVAILABLE_MODES: Final = ("Open", "Outbound", "Busy (Work)")
OUTBOUND_MODE: Final = "Outbound"
REQUIRED_PARAMS: Final = ("queue_id", "agent_id", "phone_to_call")
CREDENTIAL_PARAMS: Final = ("access_key", "secret_access_key")
MASK: Final = "***"
#: The longest latency :meth:`Emulator.set_latency` takes, in seconds.
MAX_LATENCY: Final = 600.0

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_MAX_QUOTED: Final = 40


# --------------------------------------------------------------------------- helpers


@dataclass
class Fault:
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


def masked(params: Mapping[str, str]) -> dict[str, str]:
    return {key: (MASK if key in CREDENTIAL_PARAMS else value) for key, value in params.items()}


class Emulator:
    """One DialogTech account in memory: its agents, queues and numbers, the calls it
    places, the requests it received and the faults queued for the next ones."""

    def __init__(self, account: Mapping[str, Any], *, latency: float = 0.0) -> None:
        self._initial = validate_account(account)
        self._initial_latency = _check_latency(latency)
        self._latency = self._initial_latency
        self._access_key: str = self._initial["access_key"]
        self._secret: str = self._initial["secret_access_key"]
        self._lock = threading.RLock()
        self._log: list[dict[str, Any]] = []
        self._queued: list[Fault] = []
        self._issued: set[str] = set()
        self._agents: dict[str, dict[str, Any]] = {}
        self._queues: dict[str, dict[str, Any]] = {}
        self._registered: frozenset[str] = frozenset()
        self._tracking: frozenset[str] = frozenset()
        self._file_faults: dict[str, Fault] = {}
        self._reset_state()
        self._stopping = threading.Event()

    # ---- state

    def _reset_state(self) -> None:
        account = copy.deepcopy(self._initial)
        with self._lock:
            self._agents = {agent["agent_id"]: agent for agent in account["agents"]}
            self._queues = {queue["queue_id"]: queue for queue in account["queues"]}
            self._registered = frozenset(_nanp(n) for n in account["registered_numbers"])
            self._tracking = frozenset(_nanp(n) for n in account["tracking_numbers"])
            self._file_faults = {
                number: Fault(spec["fault"], check_seconds(spec.get("seconds"), "seconds"))
                for number, spec in account["faults"].items()
            }

    def reset(self) -> None:
        """Back to the account's initial state; empty the request log and fault queue;
        the latency back to the one given when the emulator was made."""
        with self._lock:
            self._reset_state()
            self._latency = self._initial_latency
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
            check_fault_name(name, "fault")
            checked_seconds = check_seconds(seconds, "seconds")
        except AccountError as err:
            raise ValueError(str(err)) from None
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        if phone_to_call is not None and (not isinstance(phone_to_call, str) or not phone_to_call):
            raise ValueError("phone_to_call must be a non-empty string or None")
        with self._lock:
            self._queued.append(Fault(name, checked_seconds, count, phone_to_call))

    def faults(self) -> list[dict[str, Any]]:
        """The queued faults still pending."""
        with self._lock:
            return [fault.as_dict() for fault in self._queued]

    def clear_faults(self) -> int:
        with self._lock:
            count = len(self._queued)
            self._queued.clear()
            return count

    def _take_fault(self, phone_to_call: str | None) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._queued):
                if fault.phone_to_call is None or fault.phone_to_call == phone_to_call:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._queued[index]
                    return Fault(fault.name, fault.seconds, 1, fault.phone_to_call)
            if phone_to_call is not None and phone_to_call in self._file_faults:
                return self._file_faults[phone_to_call]
        return None

    @property
    def latency(self) -> float:
        """Seconds every ``ibp_api.php`` request waits before it is processed."""
        with self._lock:
            return self._latency

    def set_latency(self, seconds: float) -> None:
        """Make every ``ibp_api.php`` request wait ``seconds`` before it is processed
        (on top of any fault's own wait); 0 answers at once."""
        latency = _check_latency(seconds)
        with self._lock:
            self._latency = latency

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
                if value and not DIGITS.fullmatch(value):
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


def _check_latency(seconds: Any) -> float:
    """A latency in seconds: a finite number from 0 to ``MAX_LATENCY``."""
    try:
        value = check_seconds(seconds, "latency")
    except AccountError as err:
        raise ValueError(str(err)) from None
    if value is None or value > MAX_LATENCY:
        raise ValueError(f"latency must be from 0 to {MAX_LATENCY:g} seconds, got {seconds!r}")
    return value
