"""The view every webhook endpoint shares; each provider adds only what differs.

A provider module defines a :class:`WebhookView` subclass that authenticates the request
and splits its raw body into deliveries (usually one), and names the request headers
worth keeping with a stored delivery (``safe_headers``). Parsing a stored delivery into
calls is the provider's parser (``parsing.py``).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import defaultdict
from typing import Any, ClassVar

from django.contrib.auth.decorators import login_not_required
from django.db import InterfaceError, OperationalError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ..conf import app_settings
from ..models import WebhookEvent
from ..throttles import Decision, Rate, throttle_hit, throttle_peek
from .parsing import (
    Delivery,
    MalformedWebhookError,
    WebhookAuthenticationError,
    WebhookNotConfiguredError,
    body_hash,
    decode_body,
)
from .services import webhook_delivery_receive

logger = logging.getLogger("clicktoagent.webhooks")

# Headers kept with every stored delivery, besides a provider's own ``safe_headers``:
# nothing that authenticates (Authorization, signatures, cookies), only what helps to
# understand where a delivery came from.
COMMON_HEADERS = ("Content-Type", "Content-Length", "User-Agent", "X-Forwarded-For")
# Query parameters of the webhook URL used as defaults for every call of a delivery.
DEFAULT_PARAMS = ("queue_id", "agent_id")


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
    Subclasses implement :meth:`is_configured`, :meth:`authenticate` and, when the
    sender gives a delivery id, :meth:`delivery_id`, or :meth:`deliveries` when a request
    can hold several deliveries.
    """

    provider: ClassVar[str]
    # The provider's own headers worth keeping with a stored delivery (never a credential).
    safe_headers: ClassVar[tuple[str, ...]] = ()
    http_method_names = ["post", "head"]

    # -- hooks for providers -------------------------------------------------------

    def is_configured(self) -> bool:
        raise NotImplementedError

    def authenticate(self, request: HttpRequest, body: bytes) -> None:
        """Raise :class:`WebhookAuthenticationError` unless the request is genuine."""
        raise NotImplementedError

    def delivery_id(self, request: HttpRequest, body: bytes) -> str:
        """The id of the one delivery a request carries: by default a hash of the body."""
        return body_hash(body)

    def deliveries(self, request: HttpRequest, body: bytes) -> list[Delivery]:
        return [Delivery(delivery_id=self.delivery_id(request, body), body=decode_body(body))]

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
        kept = COMMON_HEADERS + self.safe_headers
        headers = {name: request.headers[name] for name in kept if name in request.headers}
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
