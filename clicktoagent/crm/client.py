"""What every CRM write-back client shares: the activity to write, the errors a try can
end with, and a requests transport that cannot wander.

A client takes plain values (a :class:`CallActivity`) and returns the id of the activity
the CRM created, or raises one of three errors, sorted by what the service may do next:

- :class:`CrmNotWrittenError`: nothing was created (the request never arrived, or the
  CRM answered 429 or 5xx): try again later (after ``retry_after`` when given);
- :class:`CrmMaybeWrittenError`: a create request was sent and no answer came back: the
  activity may exist, so look it up before creating another;
- :class:`CrmRefusedError`: the CRM refused the request (a 4xx other than 429, a
  redirect) or the settings are unusable: trying again cannot help.

Messages name the CRM and quote its own message, cut and with every configured secret
masked; they never contain a URL with credentials, a header or a token.

The transport (:class:`RequestsCrmClient`) sends only to the configured base URL:
``trust_env`` is off (no ``*_PROXY`` variables, no ``.netrc`` credentials), redirects
are never followed, and each request ends within the timeout in all, however slowly
the answer trickles in (the DialogTech client's :class:`Deadline`).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError

from .. import __version__
from ..conf import app_settings
from ..dialogtech.deadline import Deadline, DeadlineAdapter, DeadlinePassedBeforeSending
from ..dialogtech.redact import redact
from ..exceptions import ClickToAgentError, RetryableError
from .refs import CrmRecord

USER_AGENT = f"django-clicktoagent/{__version__} CRM write-back"
# Longest CRM message quoted in an error, and the most of an answer ever read.
MAX_MESSAGE_CHARS = 300
MAX_RESPONSE_BYTES = 262144


@dataclass(frozen=True)
class CallActivity:
    """One finished call, as it is written onto the CRM record."""

    record: CrmRecord
    lookup_key: str  # written into the activity, so a lost answer can be looked up
    attempt_id: int
    status: str  # the attempt's: placed, failed, unknown or blocked
    sid: str
    result: str
    result_description: str
    error: str
    phone_to_call: str  # E.164, e.g. +13125550123
    agent: str  # e.g. "Dana Demo (agent 98765)"
    owner_id: str  # the agent's CRM user (CrmUserMapping), or ""
    started_at: datetime
    finished_at: datetime

    @property
    def title(self) -> str:
        outcome = {
            "placed": "Call placed",
            "failed": "Call not placed",
            "unknown": "Call outcome unknown",
            "blocked": "Call blocked by safe-calling rules",
        }.get(self.status, f"Call {self.status}")
        return f"{outcome} (DialogTech{' ' + self.sid if self.sid else ''})"

    @property
    def disposition(self) -> str:
        """DialogTech's result, or our status when DialogTech gave none."""
        return self.result or self.status

    def description_lines(self) -> list[str]:
        what = {
            "placed": "DialogTech rang the agent, then the contact.",
            "failed": "The call was not placed.",
            "unknown": "No usable answer came back from DialogTech: the contact may have "
            "been called.",
            "blocked": "The call was not placed: a safe-calling rule forbade it.",
        }.get(self.status, "")
        lines = [what] if what else []
        lines.append(f"Sid: {self.sid or '-'}")
        lines.append(f"Result: {self.result or '-'}")
        if self.result_description:
            lines.append(f"Description: {self.result_description}")
        if self.error:
            lines.append(f"Reason: {self.error}")
        lines.append(f"Agent: {self.agent}")
        lines.append(f"Phone: {self.phone_to_call}")
        lines.append(f"Call attempt: {self.attempt_id}")
        return lines

    @property
    def description(self) -> str:
        return "\n".join(self.description_lines())


class CrmWriteError(ClickToAgentError):
    """A try that did not write the activity."""


class CrmNotWrittenError(CrmWriteError, RetryableError):
    """Nothing was created: retry later, after ``retry_after`` seconds when the CRM said."""


class CrmMaybeWrittenError(CrmWriteError):
    """A create request was sent but not answered: the activity may exist."""


class CrmRefusedError(CrmWriteError):
    """The CRM refused the request, or the settings are unusable: a retry cannot help."""


class CrmUnauthorizedError(CrmRefusedError):
    """HTTP 401: the credentials were refused (Salesforce fetches a new token once)."""


class CrmClient:
    """A CRM's write-back API: create a call activity, and find one by its lookup key."""

    name: ClassVar[str]  # the CRM as people write it, for messages
    # Whether :meth:`find` can tell if an activity with a lookup key exists.
    can_look_up: ClassVar[bool] = False
    #: Constructor argument -> the ``CLICKTOAGENT`` key it is read from.
    settings_keys: ClassVar[Mapping[str, str]] = {}
    #: The arguments that must be set for write-back to be on.
    credentials: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, timeout: float, secrets: Iterable[str] = ()) -> None:
        self.timeout = timeout
        self._secrets = tuple(s for s in secrets if s)

    @classmethod
    def configured(cls) -> bool:
        """Whether the settings hold this CRM's credentials (write-back is on)."""
        return all(getattr(app_settings, cls.settings_keys[arg]) for arg in cls.credentials)

    @classmethod
    def from_settings(cls, *, timeout: float) -> Self:
        """A client for the CRM the settings describe."""
        values = {arg: str(getattr(app_settings, key)) for arg, key in cls.settings_keys.items()}
        return cls(timeout=timeout, **values)

    def create(self, activity: CallActivity) -> str:
        """Create the activity; return its id in the CRM."""
        raise NotImplementedError

    def find(self, activity: CallActivity) -> str | None:
        """The id of the activity written with ``activity.lookup_key``, or None."""
        raise NotImplementedError(f"{self.name} offers no way to look a call up.")

    def close(self) -> None:
        """Release connections."""

    # -- sorting answers ---------------------------------------------------------

    def crm_message(self, body: bytes | str) -> str:
        """The CRM's own error message from an answer body, cut and with secrets masked."""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = None
        message = _message_of(data) if data is not None else " ".join(text.split())
        message = redact(message, self._secrets)
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 3] + "..."
        return message

    def check_status(
        self,
        *,
        status: int,
        body: bytes | str,
        headers: Mapping[str, str],
        what: str,
    ) -> None:
        """Raise the error an HTTP status means; return for 2xx."""
        if 200 <= status < 300:
            return
        if status == 429:
            raise CrmNotWrittenError(
                f"{self.name} asked to slow down (HTTP 429) {what}; trying again later.",
                retry_after=retry_after_seconds(headers.get("Retry-After")),
            )
        if status >= 500:
            raise CrmNotWrittenError(
                f"{self.name} failed (HTTP {status}) {what}; trying again later."
                + _quoted(self.crm_message(body))
            )
        if 300 <= status < 400:
            raise CrmRefusedError(
                f"{self.name} answered a redirect (HTTP {status}) {what}, which is not "
                "followed; check the API base URL setting."
            )
        message = self.crm_message(body)
        error = CrmUnauthorizedError if status == 401 else CrmRefusedError
        raise error(f"{self.name} refused the request (HTTP {status}) {what}." + _quoted(message))


def _quoted(message: str) -> str:
    return f" It said: {message}" if message else ""


def _message_of(data: Any) -> str:
    """The human part of the error bodies HubSpot, Salesforce and Pipedrive send."""
    if isinstance(data, list):
        return "; ".join(filter(None, (_message_of(item) for item in data[:3])))
    if not isinstance(data, dict):
        return str(data)
    parts = []
    for key in ("errorCode", "error", "category", "message", "error_description", "error_info"):
        value = data.get(key)
        if isinstance(value, str | int) and str(value) and str(value) not in parts:
            parts.append(str(value))
    return ": ".join(parts[:3])


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (HTTP-dates are ignored: the backoff applies)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def never_sent(err: BaseException) -> bool:
    """Whether a transport error proves the request never left (name resolution failed,
    connection refused or timed out, TLS certificate refused)."""
    seen: set[int] = set()
    stack: list[Any] = [err]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(
            current,
            NameResolutionError
            | ConnectTimeoutError  # NewConnectionError too: it is one
            | requests.exceptions.ConnectTimeout
            | ssl.SSLCertVerificationError,
        ):
            return True
        stack.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        stack.extend(current.args[:1])
    return False


def cause_name(err: BaseException) -> str:
    """The name of the error under library wrappers (``MaxRetryError.reason``, requests'
    ``ConnectionError`` around urllib3's), for messages."""
    current: BaseException = err
    for _ in range(5):
        inner = getattr(current, "reason", None)
        if not isinstance(inner, BaseException) and current.args:
            inner = current.args[0]
        if not isinstance(inner, BaseException):
            break
        current = inner
    return type(current).__name__


def host_of(url: str) -> str:
    """Host and port of ``url``, for messages (never a user:password or a path)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class TransportError(Exception):
    """A request that got no HTTP answer; ``sent`` when it may have reached the CRM."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class RequestsCrmClient(CrmClient):
    """A CRM client on requests: one session, bounded requests, no redirects, no proxies."""

    def __init__(self, *, base_url: str, timeout: float, secrets: Iterable[str] = ()) -> None:
        super().__init__(timeout=timeout, secrets=secrets)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
            raise CrmRefusedError(
                f"The {self.name} API base URL must be an http(s) URL without user or password."
            )
        self.base_url = base_url.rstrip("/")
        self.host = host_of(base_url)
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["User-Agent"] = USER_AGENT
        adapter = DeadlineAdapter(max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send one request to ``base_url + path``; raise :class:`TransportError` when no
        complete answer came back within the timeout."""
        late = f"{self.name} at {self.host} did not answer within {self.timeout:g} s"
        with Deadline(self.timeout) as deadline:
            try:
                response = self.session.request(
                    method,
                    self.base_url + path,
                    headers=dict(headers or {}),
                    json=json_body,
                    data=form,
                    params=params,
                    timeout=(self.timeout, self.timeout),
                    allow_redirects=False,
                    stream=True,
                )
            except DeadlinePassedBeforeSending:
                raise TransportError(late, sent=False) from None
            except requests.exceptions.RequestException as err:
                sent = deadline.sending if deadline.expired else not never_sent(err)
                reason = late if deadline.expired else _transport_reason(self, err)
                raise TransportError(reason, sent=sent) from None
            try:
                body = bytearray()
                for chunk in response.iter_content(chunk_size=16384):
                    body.extend(chunk)
                    if len(body) > MAX_RESPONSE_BYTES:
                        break
            except requests.exceptions.RequestException as err:
                reason = late if deadline.expired else _transport_reason(self, err)
                raise TransportError(reason, sent=True) from None
            finally:
                response.close()
            if deadline.expired:
                raise TransportError(late, sent=True)
        return Answer(status=response.status_code, body=bytes(body), headers=response.headers)


def _transport_reason(client: RequestsCrmClient, err: BaseException) -> str:
    if never_sent(err):
        return f"Could not connect to {client.name} at {client.host} ({cause_name(err)})"
    return f"The connection to {client.name} at {client.host} failed ({cause_name(err)})"
