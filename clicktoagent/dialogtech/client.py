"""HTTP client for DialogTech's Click-to-Agent API.

It takes plain values and returns a parsed answer, or raises one of our exceptions,
sorted by whether the request could have reached DialogTech. It knows nothing of
models. Credentials travel as query parameters (as DialogTech documents), so no
message built here ever includes a URL or a library's own error text.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.views.decorators.debug import sensitive_variables
from urllib3.exceptions import NameResolutionError, NewConnectionError

from .. import __version__
from ..conf import app_settings, dialogtech_total_timeout
from ..exceptions import (
    ConfigurationError,
    DialogTechError,
    MaybeSentError,
    NotSentError,
    RejectedError,
    SendCancelledError,
)
from .deadline import Deadline, DeadlineAdapter, DeadlinePassedBeforeSending, SendRefused
from .redact import Secret, install_log_redaction, redact
from .responses import ClickToAgentResponse, parse_click_to_agent

ACTION = "clickto.agent"
USER_AGENT = f"django-clicktoagent/{__version__} (+python-requests/{requests.__version__})"


@dataclass(frozen=True)
class ClickToAgentRequest:
    """What is sent for one call (credentials are added by the client)."""

    queue_id: str
    agent_id: str
    phone_to_call: str
    record: int
    warning: int
    first_callerid: str = ""
    second_callerid: str = ""

    def params(self) -> dict[str, str]:
        params = {
            "action": ACTION,
            "queue_id": self.queue_id,
            "agent_id": self.agent_id,
            "phone_to_call": self.phone_to_call,
            "record": str(self.record),
            "warning": str(self.warning),
        }
        if self.first_callerid:
            params["first_callerid"] = self.first_callerid
        if self.second_callerid:
            params["second_callerid"] = self.second_callerid
        return params


class DialogTechClient:
    # Keeps the credentials out of Django's error reports (DEBUG pages, admin e-mails).
    @sensitive_variables("access_key", "secret_access_key")
    def __init__(
        self,
        *,
        base_url: str,
        access_key: str,
        secret_access_key: str,
        connect_timeout: float,
        read_timeout: float,
        max_response_bytes: int,
        total_timeout: float | None = None,
    ) -> None:
        if not access_key or not secret_access_key:
            raise ConfigurationError(
                "DialogTech credentials are missing: set CLICKTOAGENT['ACCESS_KEY'] and "
                "CLICKTOAGENT['SECRET_ACCESS_KEY'] (DIALOGTECH_ACCESS_KEY and "
                "DIALOGTECH_SECRET_ACCESS_KEY in the demo project)."
            )
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"CLICKTOAGENT['BASE_URL'] must be an http(s) URL, got {redact(base_url)!r}."
            )
        self.base_url = base_url
        # Host and port only: a user:password in the URL never reaches a message.
        self.host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        self._secrets = (Secret(access_key), Secret(secret_access_key))
        self._timeout = (connect_timeout, read_timeout)
        # Each read is timed by read_timeout; the whole request by this deadline.
        self._total = total_timeout or connect_timeout + read_timeout
        self._max_bytes = max_response_bytes
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.trust_env = False
        # No retries at this level: only the service decides what may be retried.
        adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        install_log_redaction()

    def close(self) -> None:
        self.session.close()

    @sensitive_variables("access_key", "secret_access_key", "params")
    def click_to_agent(
        self, request: ClickToAgentRequest, *, may_send: Callable[[], bool] | None = None
    ) -> ClickToAgentResponse:
        """Ask DialogTech to place the call; return its parsed answer.

        Raises :class:`NotSentError` when the request certainly never reached
        DialogTech, :class:`MaybeSentError` when it may have (also when the answer is
        not complete within the total timeout), and :class:`RejectedError` for an HTTP
        4xx refusal. ``may_send`` is asked once the connection is up, right before the
        request is written; when it answers False nothing is sent and
        :class:`SendCancelledError` is raised.
        """
        access_key, secret_access_key = self._secrets
        params = {
            **request.params(),
            "access_key": access_key,
            "secret_access_key": secret_access_key,
        }  # the values are Secret: masked wherever the dict is printed
        with Deadline(self._total, may_send=may_send) as deadline:
            try:
                # No redirects: following one would send the credentials to another URL.
                response = self.session.get(
                    self.base_url,
                    params=params,
                    timeout=self._timeout,
                    stream=True,
                    allow_redirects=False,
                )
            except SendRefused:
                raise SendCancelledError(
                    f"The request to DialogTech at {self.host} was withdrawn right before "
                    "sending; it was not sent."
                ) from None
            except DeadlinePassedBeforeSending:
                raise self._deadline_error(deadline) from None
            except requests.exceptions.RequestException as err:
                if deadline.expired:
                    raise self._deadline_error(deadline) from None
                raise self._transport_error(err) from None
            try:
                return self._read(response, deadline)
            finally:
                response.close()

    def _deadline_error(self, deadline: Deadline) -> DialogTechError:
        if not deadline.sending:
            return NotSentError(
                f"Connecting to DialogTech at {self.host} used up the total timeout of "
                f"{self._total:g} s; the request was not sent."
            )
        return MaybeSentError(
            f"DialogTech at {self.host} did not answer completely within the total timeout "
            f"of {self._total:g} s; the call may have been placed."
        )

    def _read(self, response: requests.Response, deadline: Deadline) -> ClickToAgentResponse:
        status = response.status_code
        if status in (429, 503):
            raise NotSentError(
                f"DialogTech at {self.host} refused to process the request "
                f"(HTTP {status}); it may be retried later.",
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500:
            raise MaybeSentError(
                f"DialogTech at {self.host} answered HTTP {status}; the call may have been placed."
            )
        if status >= 400:
            raise RejectedError(f"DialogTech at {self.host} refused the request (HTTP {status}).")
        if status >= 300:
            raise RejectedError(
                f"DialogTech at {self.host} answered a redirect (HTTP {status}), which is not "
                "followed; check CLICKTOAGENT['BASE_URL']."
            )
        body = bytearray()
        try:
            for chunk in response.iter_content(chunk_size=8192):
                body.extend(chunk)
                if len(body) > self._max_bytes:
                    raise MaybeSentError(
                        f"DialogTech's answer is larger than {self._max_bytes} bytes; "
                        "the call may have been placed."
                    )
        except requests.exceptions.RequestException as err:
            if deadline.expired:
                raise self._deadline_error(deadline) from None
            # The request was sent and answered: whatever broke, the call may exist.
            raise MaybeSentError(
                f"Reading DialogTech's answer from {self.host} failed "
                f"({type(err).__name__}); the call may have been placed."
            ) from None
        if deadline.expired:
            # Cut short: what was read may be only part of the answer.
            raise self._deadline_error(deadline)
        return parse_click_to_agent(bytes(body), max_bytes=self._max_bytes)

    def _transport_error(self, err: requests.exceptions.RequestException) -> Exception:
        kind = type(err).__name__
        if isinstance(err, requests.exceptions.ConnectTimeout):
            return NotSentError(
                f"Timed out connecting to DialogTech at {self.host}; the request was not sent."
            )
        if isinstance(err, requests.exceptions.ReadTimeout):
            return MaybeSentError(
                f"DialogTech at {self.host} did not answer within {self._timeout[1]:g} s; "
                "the call may have been placed."
            )
        if isinstance(err, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
            return ConfigurationError(f"DialogTech base URL is not usable ({kind}).")
        if isinstance(err, requests.exceptions.SSLError):
            # Only a refused certificate proves the handshake failed before sending; other
            # TLS errors can cut a connection after the request went out.
            if isinstance(_root_cause(err), ssl.SSLCertVerificationError) or isinstance(
                getattr(_root_cause(err), "__cause__", None), ssl.SSLCertVerificationError
            ):
                return NotSentError(
                    f"DialogTech's TLS certificate at {self.host} was refused; "
                    "the request was not sent."
                )
            return MaybeSentError(
                f"The TLS connection to DialogTech at {self.host} failed "
                f"({type(_root_cause(err)).__name__}); the call may have been placed."
            )
        if isinstance(err, requests.exceptions.ConnectionError):
            cause = _root_cause(err)
            if isinstance(cause, NameResolutionError):
                return NotSentError(
                    f"Could not resolve DialogTech's host {self.host}; the request was not sent."
                )
            if isinstance(cause, NewConnectionError):
                return NotSentError(
                    f"Could not connect to DialogTech at {self.host} "
                    f"({type(cause.__cause__ or cause).__name__}); the request was not sent."
                )
            return MaybeSentError(
                f"The connection to DialogTech at {self.host} broke after the request was "
                f"sent ({type(cause).__name__}); the call may have been placed."
            )
        return MaybeSentError(
            f"Talking to DialogTech at {self.host} failed ({kind}); the call may have been placed."
        )


def _root_cause(err: BaseException) -> BaseException:
    """The urllib3 exception under requests' wrapper (``MaxRetryError.reason`` if present)."""
    inner: Any = err.args[0] if err.args else err
    reason = getattr(inner, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    return inner if isinstance(inner, BaseException) else err


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # An HTTP-date; the backoff schedule applies instead.
    return max(0.0, seconds)


_local = threading.local()


def get_client() -> DialogTechClient:
    """The client for the current settings, built once per thread and reused."""
    key = (
        app_settings.BASE_URL,
        Secret(app_settings.ACCESS_KEY),
        Secret(app_settings.SECRET_ACCESS_KEY),
        float(app_settings.CONNECT_TIMEOUT),
        float(app_settings.READ_TIMEOUT),
        int(app_settings.MAX_RESPONSE_BYTES),
        dialogtech_total_timeout(),
    )
    cached: tuple[tuple[Any, ...], DialogTechClient] | None = getattr(_local, "client", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    if cached is not None:
        cached[1].close()
    client = DialogTechClient(
        base_url=key[0],
        access_key=key[1],
        secret_access_key=key[2],
        connect_timeout=key[3],
        read_timeout=key[4],
        max_response_bytes=key[5],
        total_timeout=key[6],
    )
    _local.client = (key, client)
    return client
