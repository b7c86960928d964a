"""Where a callback may go: the ``CALLBACK_ALLOWED_HOSTS`` allow-list, https, and public
addresses only (unless a host is listed exactly). ``outbound.py`` enforces it when
connecting."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

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


def ip_or_none(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def allowed_host_entry_problem(entry: str) -> str | None:
    """Why ``entry`` of CALLBACK_ALLOWED_HOSTS can never match, or None when it is fine."""
    host = normalize_host(entry)
    if ip_or_none(host) is not None or _HOST_ENTRY.match(host):
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
        if ip_or_none(host) is not None:
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
