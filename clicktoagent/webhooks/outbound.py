"""Outbound HTTP to a URL a webhook sender chose: the generic endpoint's ``callback_url``.

The sender is authenticated, but the URL is still theirs, so a callback:

- goes only to a host in ``CALLBACK_ALLOWED_HOSTS`` (empty: callbacks are off), over
  https unless ``CALLBACK_ALLOW_HTTP`` is on, and never with ``user:password@``;
- resolves its host once, when connecting, refuses it if any answer is not a public
  address (unless the host is listed exactly in the allow-list), and connects to exactly
  the address it checked, so a DNS answer that changes between check and use (DNS
  rebinding) gains nothing; TLS still checks the certificate for the host name (SNI too);
- ignores the environment (``.netrc`` credentials, ``*_PROXY``, CA bundle variables) and
  never follows a redirect;
- ends at one total deadline covering name resolution, connecting, TLS, sending and the
  answer's status line and headers; the answer's body is never read.

advocate, the usual library for this, requires urllib3 < 2 and netifaces;
requests-hardened filters on ``is_private`` alone, checks only the first DNS answer and
has no per-host exemption. So this is a small transport of our own, built on the
extension points of requests (``HTTPAdapter.init_poolmanager``) and urllib3
(``PoolManager._new_pool``, ``HTTPConnection._new_conn``).
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection

from ..dialogtech.deadline import SocketTimer, pool_classes
from .callback_policy import (
    CallbackAddressError,
    CallbackPolicy,
    CallbackURLError,
    IPAddress,
    ip_or_none,
)

USER_AGENT = "django-clicktoagent callback"

# -- one try: its policy and its total deadline ---------------------------------------------


class _Try(SocketTimer):
    """One callback try: the policy enforced when connecting, and a total deadline.

    When the deadline passes, every socket of the try is shut down, which ends any read
    in progress however slowly the server trickles bytes.
    """

    def __init__(self, policy: CallbackPolicy, seconds: float) -> None:
        super().__init__(seconds)
        self.policy = policy
        self._expires = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._expires - time.monotonic())

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The checked addresses of ``host``, resolved once, within the deadline."""
        literal = ip_or_none(host)
        if literal is not None:
            found = [literal]
        else:
            found = []
            for family, _type, _proto, _name, sockaddr in _getaddrinfo(
                host, port, self.remaining()
            ):
                if family in (socket.AF_INET, socket.AF_INET6):
                    address = ipaddress.ip_address(sockaddr[0])
                    if address not in found:
                        found.append(address)
            if not found:
                raise socket.gaierror(socket.EAI_NONAME, "no IPv4 or IPv6 address")
        self.policy.check_addresses(host, found)
        return found


def _getaddrinfo(host: str, port: int, seconds: float) -> list[Any]:
    """``socket.getaddrinfo`` that gives up after ``seconds`` (the lookup itself cannot be
    interrupted: it finishes, unused, in its own thread)."""
    outcome: list[Any] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM))
        except Exception as err:
            outcome.append(err)
        finally:
            done.set()

    threading.Thread(target=lookup, name="clicktoagent-callback-dns", daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError("name resolution did not finish in time")
    result = outcome[0]
    if isinstance(result, socket.gaierror):
        raise result
    if isinstance(result, Exception):
        raise socket.gaierror(socket.EAI_FAIL, type(result).__name__)
    return list(result)


# -- the transport: urllib3 connections pinned to the checked address -----------------------


class _PinnedHTTPConnection(HTTPConnection):
    """Connects to an address checked by the try's policy, within its deadline."""

    def __init__(self, *args: Any, callback_try: _Try, **kwargs: Any) -> None:
        self._callback_try = callback_try
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        callback_try = self._callback_try
        try:
            addresses = callback_try.addresses(self._dns_host, self.port)
        except socket.gaierror as err:
            raise NameResolutionError(self.host, self, err) from err
        except TimeoutError as err:
            raise ConnectTimeoutError(self, f"Resolving {self.host} timed out.") from err
        error: OSError | None = None
        for address in addresses:
            timeout = callback_try.remaining()
            if isinstance(self.timeout, int | float):
                timeout = min(timeout, float(self.timeout))
            if timeout <= 0:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.")
            try:
                sock = connection.create_connection(
                    (str(address), self.port),
                    timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as err:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from err
            except OSError as err:
                error = err
                continue
            callback_try.watch(sock)
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


class _PinnedHTTPSConnection(_PinnedHTTPConnection, HTTPSConnection):
    """TLS over the pinned socket; SNI and the certificate check use the URL's host name."""


_PINNED_POOL_CLASSES = pool_classes(_PinnedHTTPConnection, _PinnedHTTPSConnection)


class _PinnedPoolManager(PoolManager):
    def __init__(self, *args: Any, callback_try: _Try, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._callback_try = callback_try
        self.pool_classes_by_scheme = _PINNED_POOL_CLASSES

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        context = dict(self.connection_pool_kw if request_context is None else request_context)
        context["callback_try"] = self._callback_try  # handed to each connection
        return super()._new_pool(scheme, host, port, context)


class _PinnedAdapter(HTTPAdapter):
    def __init__(self, callback_try: _Try) -> None:
        self._callback_try = callback_try
        super().__init__(max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager = _PinnedPoolManager(
            num_pools=connections,
            maxsize=maxsize,
            block=block,
            callback_try=self._callback_try,
            **pool_kwargs,
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise CallbackAddressError("callback_url: callbacks never go through a proxy.")


@dataclass(frozen=True)
class CallbackResult:
    """The outcome of one try; ``retry`` is False when trying again cannot help."""

    delivered: bool
    error: str = ""
    retry: bool = True


def callback_post(
    *,
    url: str,
    data: bytes,
    headers: Mapping[str, str],
    timeout: float,
    policy: CallbackPolicy | None = None,
    verify: bool | str = True,
) -> CallbackResult:
    """POST ``data`` to ``url`` once, within ``timeout`` seconds in all.

    A 2xx status counts as delivered (the body is not read). ``policy`` defaults to the
    settings; ``verify`` is requests' (a CA bundle path for a private CA).
    """
    policy = policy or CallbackPolicy.from_settings()
    try:
        policy.check_url(url)
    except CallbackURLError as err:
        return CallbackResult(delivered=False, error=str(err), retry=False)
    late = f"The callback URL did not answer within {timeout:g} s."
    # Prepared without a Session and sent through the adapter alone: nothing is taken
    # from the environment (.netrc, *_PROXY, CA bundle variables), no cookies, and no
    # redirect handling at all (a Session reads a redirect's whole body even when it
    # does not follow it).
    request = requests.Request(
        "POST", url, data=data, headers={"User-Agent": USER_AGENT, **headers}
    ).prepare()
    with _Try(policy, timeout) as callback_try:
        adapter = _PinnedAdapter(callback_try)
        try:
            remaining = callback_try.remaining()
            response = adapter.send(
                request, stream=True, timeout=(remaining, remaining), verify=verify, proxies=None
            )
            response.close()
            if callback_try.expired:
                # Cut mid-headers, the answer can look complete (EOF ends the headers).
                return CallbackResult(delivered=False, error=late)
            status = response.status_code
        except CallbackAddressError as err:
            return CallbackResult(delivered=False, error=str(err), retry=False)
        except requests.Timeout:
            return CallbackResult(delivered=False, error=late)
        except requests.RequestException as err:
            if callback_try.expired:
                return CallbackResult(delivered=False, error=late)
            return CallbackResult(
                delivered=False, error=f"Could not reach the callback URL ({type(err).__name__})."
            )
        finally:
            adapter.close()
    if 200 <= status < 300:
        return CallbackResult(delivered=True)
    if 300 <= status < 400:
        return CallbackResult(
            delivered=False,
            error=f"The callback URL answered HTTP {status} (redirects are not followed).",
        )
    return CallbackResult(delivered=False, error=f"The callback URL answered HTTP {status}.")
