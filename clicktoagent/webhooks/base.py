"""The plumbing every webhook endpoint shares; each provider adds only what differs.

A provider module defines two things:

- a :class:`WebhookParser` subclass (registered with :func:`register_parser`) that turns
  a *stored* delivery into the calls to place, so a delivery can be processed again
  later from its stored body alone;
- a :class:`WebhookView` subclass that authenticates the request and splits its raw
  body into deliveries (usually one).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from importlib import import_module
from typing import Any, ClassVar

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousOperation
from django.db import InterfaceError, OperationalError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ..conf import app_settings
from ..exceptions import ClickToAgentError
from ..jsonsafe import UnsafeJSONError, parse_json
from ..models import WebhookEvent
from ..throttles import Decision, Rate, throttle_hit, throttle_peek

logger = logging.getLogger("clicktoagent.webhooks")

# Headers kept with a stored delivery: nothing that authenticates (Authorization,
# signatures, cookies), only what helps to understand where a delivery came from.
SAFE_HEADERS = (
    "Content-Type",
    "Content-Length",
    "User-Agent",
    "X-Forwarded-For",
    "Webhook-Id",
    "Webhook-Timestamp",
    "X-HubSpot-Request-Timestamp",
    "X-HubSpot-Signature-Version",
    "SOAPAction",
)
# Query parameters of the webhook URL used as defaults for every call of a delivery.
DEFAULT_PARAMS = ("queue_id", "agent_id")
MAX_DELIVERY_ID_LENGTH = 200


class WebhookAuthenticationError(ClickToAgentError, SuspiciousOperation):
    """The request did not prove it came from the configured sender."""


class WebhookNotConfiguredError(WebhookAuthenticationError):
    """The endpoint has no secret (or allow-list) configured, so it trusts no one."""


class MalformedWebhookError(ClickToAgentError):
    """The request cannot be read at all, before anything could be stored."""


class UnusableDeliveryError(ClickToAgentError):
    """An authenticated delivery that cannot become a call (no phone, unknown agent...)."""


class IgnoredDeliveryError(ClickToAgentError):
    """An authenticated delivery that is not meant to place a call (e.g. an update)."""


@dataclass(frozen=True)
class WebhookCall:
    """One call a delivery asks for, in the CRM-neutral form the services act on."""

    phone_to_call: str
    contact_ref: str = ""
    owner_id: str = ""  # the CRM user who owns the record, resolved through CrmUserMapping
    queue_id: str = ""
    agent_id: str = ""
    first_callerid: str = ""
    second_callerid: str = ""
    record: int | None = None
    warning: int | None = None
    callback_url: str = ""


@dataclass(frozen=True)
class Delivery:
    """One unit a request carries, stored as one WebhookEvent."""

    delivery_id: str
    body: str


class WebhookParser:
    """Turns a stored delivery of one provider into calls."""

    provider: ClassVar[str]

    def dedupe_window(self) -> float | None:
        """Seconds within which the same delivery id counts as a duplicate.

        ``None`` (the default): a delivery id is unique for ever. Providers that send no
        delivery id and are deduplicated on a hash of the body use a window, so the same
        contact can be called again by a later, identical delivery.
        """
        return None

    def calls(self, *, event: WebhookEvent) -> list[WebhookCall]:
        """The calls ``event`` asks for; raise Unusable/IgnoredDeliveryError otherwise."""
        raise NotImplementedError


_PARSERS: dict[str, WebhookParser] = {}


def register_parser(cls: type[WebhookParser]) -> type[WebhookParser]:
    _PARSERS[cls.provider] = cls()
    return cls


def get_parser(provider: str) -> WebhookParser:
    """The parser of ``provider``; its module is ``clicktoagent.webhooks.<provider>``."""
    if provider not in _PARSERS:
        import_module(f"{__package__}.{provider}")
    return _PARSERS[provider]


def body_hash(body: bytes) -> str:
    return f"sha256:{hashlib.sha256(body).hexdigest()}"


def clean_delivery_id(value: object, *, body: bytes) -> str:
    """A usable delivery id: the sender's own, or a hash when missing or too long."""
    text = str(value).strip() if value is not None else ""
    if not text:
        return body_hash(body)
    if len(text) > MAX_DELIVERY_ID_LENGTH:
        return body_hash(text.encode())
    return text


def decode_body(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def load_json(text: str) -> Any:
    """A JSON body within ``WEBHOOK_MAX_BODY_BYTES`` and ``JSON_MAX_DEPTH``, else the
    delivery is unusable (stored ``rejected`` with the reason, never a 500)."""
    try:
        return parse_json(
            text,
            max_depth=int(app_settings.JSON_MAX_DEPTH),
            max_bytes=int(app_settings.WEBHOOK_MAX_BODY_BYTES),
        )
    except UnsafeJSONError as err:
        raise UnusableDeliveryError(f"The body cannot be read: {err}.") from None


def as_text(value: object) -> str:
    """A scalar from a JSON payload as text ('' for None, objects and lists)."""
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value).strip()


# Refused requests per provider, counted in the log line of each refusal.
_refused: defaultdict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))


def client_address(request: HttpRequest) -> str:
    """The address failed authentications are counted against: ``REMOTE_ADDR``.

    Behind a reverse proxy the host project must set ``REMOTE_ADDR`` to the client's
    address (its proxy middleware); ``X-Forwarded-For`` is not trusted here, since any
    client can send it.
    """
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _auth_failure_rate() -> Rate | None:
    limit = int(app_settings.WEBHOOK_AUTH_FAILURES_PER_MINUTE)
    if limit <= 0:
        return None
    return Rate(limit=limit, period=60, text=f"{limit}/minute", unit="minute")


def _auth_failure_key(address: str) -> str:
    # One count per address for every provider: trying each endpoint in turn adds up.
    return f"webhook-auth-failures:{address}"


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
# Store-first needs real commits, also in projects with ATOMIC_REQUESTS on.
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class WebhookView(View):
    """POST-only endpoint: authenticate, store, process, answer.

    HEAD answers 200 so a CRM's "test the URL" button works; every other method is 405.
    Subclasses implement :meth:`is_configured`, :meth:`authenticate` and, when a
    request can hold several deliveries or the delivery id is in the body,
    :meth:`deliveries`.
    """

    provider: ClassVar[str]
    http_method_names = ["post", "head"]

    # -- hooks for providers -------------------------------------------------------

    def is_configured(self) -> bool:
        raise NotImplementedError

    def authenticate(self, request: HttpRequest, body: bytes) -> None:
        """Raise :class:`WebhookAuthenticationError` unless the request is genuine."""
        raise NotImplementedError

    def deliveries(self, request: HttpRequest, body: bytes) -> list[Delivery]:
        return [Delivery(delivery_id=body_hash(body), body=decode_body(body))]

    def response(self, outcomes: list[Any]) -> HttpResponse:
        """One JSON answer for a single delivery: 200, or 400 when it was rejected."""
        outcome = outcomes[0]
        status = 400 if outcome.status == WebhookEvent.Status.REJECTED else 200
        return JsonResponse(outcome.as_dict(), status=status)

    def unauthorized(self, err: WebhookAuthenticationError) -> HttpResponse:
        return JsonResponse({"status": "unauthorized", "error": str(err)}, status=401)

    def malformed(self, err: MalformedWebhookError) -> HttpResponse:
        return JsonResponse({"status": "malformed", "error": str(err)}, status=400)

    def too_many_failures(self, decision: Decision) -> HttpResponse:
        seconds = max(1, math.ceil(decision.retry_after))
        response = JsonResponse(
            {
                "status": "throttled",
                "error": f"Too many failed authentications from this address ({decision.limit} "
                f"a minute, CLICKTOAGENT['WEBHOOK_AUTH_FAILURES_PER_MINUTE']); try again in "
                f"{seconds} seconds.",
            },
            status=429,
        )
        response["Retry-After"] = str(seconds)
        return response

    def unavailable(self) -> HttpResponse:
        response = JsonResponse(
            {"status": "unavailable", "error": "Temporarily unable to store the delivery."},
            status=503,
        )
        response["Retry-After"] = "60"
        return response

    # -- plumbing ------------------------------------------------------------------

    def head(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse(status=200)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        from .services import webhook_delivery_receive

        # An address with too many failed authentications is refused before its
        # credential is even looked at, until its window ends.
        address = client_address(request)
        rate = _auth_failure_rate()
        if rate is not None:
            blocked = throttle_peek(key=_auth_failure_key(address), rate=rate)
            if not blocked.allowed:
                return self.too_many_failures(blocked)
        # The raw body first: signatures are computed over the exact bytes received.
        body = request.body
        if len(body) > int(app_settings.WEBHOOK_MAX_BODY_BYTES):
            return JsonResponse(
                {"status": "too_large", "error": "The body is larger than allowed."},
                status=413,
            )
        try:
            if not self.is_configured():
                raise WebhookNotConfiguredError(
                    f"The {self.provider} webhook endpoint is not configured; it refuses "
                    "every delivery."
                )
            self.authenticate(request, body)
        except WebhookAuthenticationError as err:
            failures = (
                throttle_hit(key=_auth_failure_key(address), rate=rate)
                if rate is not None
                else None
            )
            self._log_refusal(request, err, failures)
            return self.unauthorized(err)
        except MalformedWebhookError as err:
            return self.malformed(err)
        try:
            deliveries = self.deliveries(request, body)
        except MalformedWebhookError as err:
            return self.malformed(err)
        headers = {name: request.headers[name] for name in SAFE_HEADERS if name in request.headers}
        query = {name: request.GET[name] for name in DEFAULT_PARAMS if request.GET.get(name)}
        try:
            outcomes = [
                webhook_delivery_receive(
                    provider=self.provider,
                    delivery_id=delivery.delivery_id,
                    body=delivery.body,
                    headers=headers,
                    query=query,
                )
                for delivery in deliveries
            ]
        except (OperationalError, InterfaceError) as err:
            logger.error(
                "webhook %s: could not store a delivery (%s); asking the sender to retry",
                self.provider,
                type(err).__name__,
            )
            return self.unavailable()
        return self.response(outcomes)

    def _log_refusal(
        self, request: HttpRequest, err: WebhookAuthenticationError, failures: Decision | None
    ) -> None:
        # The message says what was wrong, never what was sent: no credential is logged.
        counter = _refused[self.provider]
        level = logging.ERROR if isinstance(err, WebhookNotConfiguredError) else logging.WARNING
        address = client_address(request)
        logger.log(
            level,
            "webhook %s: refused a delivery from %s: %s (%d refused by this process)",
            self.provider,
            address,
            err,
            next(counter),
        )
        if failures is not None and failures.hits == failures.limit:
            logger.warning(
                "webhook %s: %s failed to authenticate %d times within a minute; its "
                "deliveries to every webhook endpoint are refused with 429 for %d s",
                self.provider,
                address,
                failures.hits,
                math.ceil(failures.retry_after),
            )
