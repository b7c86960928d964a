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

import contextlib
import ipaddress
import re
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection

from ..conf import app_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Never a callback's destination, whatever ``is_global`` says (or said in older Pythons).
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # carrier-grade NAT
        "192.0.0.0/24",  # IETF protocol assignments
        "192.88.99.0/24",  # 6to4 relay anycast
        "198.18.0.0/15",  # benchmarking
        "::/96",  # IPv4-compatible IPv6 (deprecated), :: and ::1 included
        "64:ff9b:1::/48",  # local-use NAT64
        "2001::/23",  # IETF protocol assignments, Teredo included
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing
        "fec0::/10",  # site-local (deprecated)
    )
)
# Well-known NAT64 prefix: the address stands for the IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

USER_AGENT = "django-clicktoagent callback"

# A host name or a ".suffix" entry of CALLBACK_ALLOWED_HOSTS (lower case, no trailing dot).
_HOST_ENTRY = re.compile(
    r"^\.?[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)


class CallbackURLError(ValueError):
    """A callback_url this server will not call; the message names the field and why."""


class CallbackAddressError(Exception):
    """The callback host resolved to an address callbacks may not reach.

    Not an ``OSError``, so urllib3 and requests let it through unwrapped.
    """


def address_is_public(address: IPAddress) -> bool:
    """True for an address on the public internet: not loopback, private, link-local,
    unique-local, multicast, reserved, unspecified, shared, documentation, nor one of
    those inside IPv4-mapped, 6to4 or NAT64 IPv6."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_is_public(embedded)
    if any(address in network for network in _NOT_PUBLIC):
        return False
    return address.is_global and not (
        address.is_private
        or address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
    )


def normalize_host(host: str) -> str:
    """A host as compared with the allow-list: lower case, no brackets, no trailing dot."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.rstrip(".")


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def allowed_host_entry_problem(entry: str) -> str | None:
    """Why ``entry`` of CALLBACK_ALLOWED_HOSTS can never match, or None when it is fine."""
    host = normalize_host(entry)
    if _ip(host) is not None or _HOST_ENTRY.match(host):
        return None
    return (
        f"{entry!r} is neither a host name, a '.domain' suffix nor an IP address "
        "(no scheme, port, path or wildcard)"
    )


@dataclass(frozen=True)
class CallbackPolicy:
    """Where callbacks may go: the allow-list and whether plain http is accepted."""

    allowed_hosts: tuple[str, ...] = ()
    allow_http: bool = False

    @classmethod
    def from_settings(cls) -> CallbackPolicy:
        return cls.from_value(
            app_settings.CALLBACK_ALLOWED_HOSTS, allow_http=bool(app_settings.CALLBACK_ALLOW_HTTP)
        )

    @classmethod
    def from_value(cls, hosts: str | Iterable[str], *, allow_http: bool) -> CallbackPolicy:
        """From a list of entries, or one comma-separated string."""
        if isinstance(hosts, str):
            hosts = hosts.split(",")
        entries = (normalize_host(str(host)) for host in hosts)
        return cls(allowed_hosts=tuple(entry for entry in entries if entry), allow_http=allow_http)

    def host_allowed(self, host: str) -> bool:
        host = normalize_host(host)
        if _ip(host) is not None:
            return host in self.allowed_hosts  # an address matches only itself
        return any(
            host == entry or (entry.startswith(".") and (host == entry[1:] or host.endswith(entry)))
            for entry in self.allowed_hosts
        )

    def listed_literally(self, host: str) -> bool:
        """An exact entry (not a ``.suffix``) names the host: it may have any address."""
        return normalize_host(host) in self.allowed_hosts

    def check_url(self, url: str) -> str:
        """The URL's host when callbacks may go to ``url``; CallbackURLError otherwise.

        Messages never repeat the URL (it may carry credentials).
        """
        if not self.allowed_hosts:
            raise CallbackURLError(
                "callback_url: callbacks are off on this server (CALLBACK_ALLOWED_HOSTS is "
                "empty); leave callback_url out, or ask the operator to allow its host."
            )
        invalid = CallbackURLError("callback_url: not a valid URL; give an absolute https:// URL.")
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
        except ValueError:
            raise invalid from None
        if not parts.scheme or not parts.netloc:
            raise invalid
        if "@" in parts.netloc:
            raise CallbackURLError(
                "callback_url: must not contain a user name or password (user:password@host); "
                "the receiver checks the webhook-signature header instead."
            )
        schemes = ["https", "http"] if self.allow_http else ["https"]
        if parts.scheme.lower() not in schemes:
            raise CallbackURLError(
                "callback_url: only https:// URLs are accepted"
                + (" (CALLBACK_ALLOW_HTTP is off)." if parts.scheme.lower() == "http" else ".")
            )
        try:
            URLValidator(schemes=schemes)(url)
        except ValidationError:
            raise invalid from None
        if not hostname:
            raise invalid
        try:
            host = normalize_host(hostname).encode("idna").decode("ascii")
        except UnicodeError:
            raise invalid from None
        if not self.host_allowed(host):
            raise CallbackURLError(
                f"callback_url: host {host!r} is not allowed (not in CALLBACK_ALLOWED_HOSTS); "
                "use a URL on an allowed host, or ask the operator to allow it."
            )
        return host

    def check_addresses(self, host: str, addresses: list[IPAddress]) -> None:
        """Refuse ``host`` when any of its addresses is not public, unless it is listed
        literally (then the operator chose it, internal or not)."""
        if not self.host_allowed(host):
            raise CallbackAddressError(f"callback_url: host {host!r} is not allowed.")
        if self.listed_literally(host):
            return
        for address in addresses:
            if not address_is_public(address):
                raise CallbackAddressError(
                    f"callback_url: host {host!r} resolves to {address}, which is not a public "
                    "address; only a host listed exactly in CALLBACK_ALLOWED_HOSTS may have one."
                )


def callback_url_check(url: str) -> str:
    """The host of ``url`` when the settings allow a callback to it; CallbackURLError otherwise."""
    return CallbackPolicy.from_settings().check_url(url)


# -- one try: its policy and its total deadline ---------------------------------------------


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for TLS sockets: it only wakes a blocked read
    # in the requesting thread and leaves the TLS state to that thread.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Try:
    """One callback try: the policy enforced when connecting, and a total deadline.

    When the deadline passes, every socket of the try is shut down, which ends any read
    in progress however slowly the server trickles bytes.
    """

    def __init__(self, policy: CallbackPolicy, seconds: float) -> None:
        self.policy = policy
        self.expired = False
        self._expires = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Try:
        self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        return max(0.0, self._expires - time.monotonic())

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            if not self.expired:
                self._sockets.append(sock)
                return
        _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The checked addresses of ``host``, resolved once, within the deadline."""
        literal = _ip(host)
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
            callback_try.track(sock)
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


class _PinnedHTTPSConnection(_PinnedHTTPConnection, HTTPSConnection):
    """TLS over the pinned socket; SNI and the certificate check use the URL's host name."""


class _PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedPoolManager(PoolManager):
    def __init__(self, *args: Any, callback_try: _Try, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._callback_try = callback_try
        self.pool_classes_by_scheme = {
            "http": _PinnedHTTPConnectionPool,
            "https": _PinnedHTTPSConnectionPool,
        }

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
