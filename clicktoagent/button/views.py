"""The JSON endpoint behind the ``{% clicktoagent_button %}`` call button."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from rest_framework import status as http
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException, Throttled
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..api.parsers import BoundedFormParser, BoundedJSONParser, body_size_check
from ..api.permissions import CanPlaceCalls
from ..api.throttling import CallAttemptCreateThrottle, call_rate, throttled_message
from ..calls.contacts import contact_call
from ..calls.display import attempt_reason
from ..exceptions import IdempotencyConflictError
from ..models import CallAttempt
from .tokens import ButtonPhoneChangedError, button_phone, button_target

KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")


def _error(status: str, reason: str, code: int, **extra: Any) -> Response:
    return Response({"status": status, "reason": reason, **extra}, status=code)


class CallButtonView(APIView):
    """POST ``{"token": ..., "idempotency_key": ...}``: place the button's call.

    Session authentication with CSRF, ``clicktoagent.place_call`` required. Answers
    ``{"status", "attempt", "sid"}`` when placed, ``{"status", "attempt", "reason"}``
    otherwise; the same idempotency key returns the same attempt (no second call).
    Each click counts against the user's limit shared with the API
    (``API_CREATE_THROTTLE_RATE``): over it, 429 ``{"status": "throttled", "reason"}``.
    """

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated, CanPlaceCalls]
    throttle_classes = [CallAttemptCreateThrottle]
    parser_classes = [BoundedJSONParser, BoundedFormParser]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, Throttled):
            # The button shows "reason"; a bare DRF "detail" would read as no answer.
            rate = call_rate()
            seconds: int | None = getattr(exc, "wait", None)
            wait = f" Try again in {seconds} seconds." if seconds is not None else ""
            response = _error(
                "throttled",
                (throttled_message(rate) if rate else "Too many calls.") + wait,
                http.HTTP_429_TOO_MANY_REQUESTS,
            )
            if seconds is not None:
                response["Retry-After"] = str(seconds)
            return response
        return super().handle_exception(exc)

    def post(self, request: Request) -> Response:
        try:
            body_size_check(request)
            payload = request.data
        except APIException as err:  # too large (413), unreadable or too deep (400), 415
            return _error("invalid", str(err.detail), err.status_code)
        data = payload if isinstance(payload, dict) else {}
        key = str(data.get("idempotency_key") or "")
        if not KEY_PATTERN.fullmatch(key):
            return _error(
                "invalid",
                "idempotency_key must be 8 to 64 letters, digits, '-' or '_'.",
                http.HTTP_400_BAD_REQUEST,
            )
        try:
            target = button_target(str(data.get("token") or ""))
        except signing.SignatureExpired:
            return _error(
                "expired",
                "This call button has expired: reload the page to get a fresh one.",
                http.HTTP_403_FORBIDDEN,
            )
        except signing.BadSignature:
            return _error(
                "invalid",
                "This call button is not valid (was the page changed?): reload the page.",
                http.HTTP_400_BAD_REQUEST,
            )
        contact = None
        if target.content_type_id is not None:
            try:
                content_type = ContentType.objects.get_for_id(target.content_type_id)
                contact = content_type.get_object_for_this_type(pk=target.object_id)
            except ObjectDoesNotExist:
                return _error("invalid", "This contact no longer exists.", http.HTTP_404_NOT_FOUND)
        try:
            phone = button_phone(target, contact)
        except ButtonPhoneChangedError:
            return _error(
                "changed",
                "Nothing was dialled: the number changed since this page was shown; "
                "reload the page to see the current number.",
                http.HTTP_409_CONFLICT,
            )
        try:
            attempt, created = contact_call(
                phone_to_call=phone,
                contact=contact,
                queue_id=target.queue_id,
                agent_id=target.agent_id,
                source=CallAttempt.Source.ADMIN,
                requested_by=request.user,  # type: ignore[arg-type]
                # Scoped to the user, so one user's keys never meet another's.
                idempotency_key=f"button:{request.user.pk}:{key}",
            )
        except ValidationError as err:
            messages = [m for ms in err.message_dict.values() for m in ms]
            return _error(
                "invalid", " ".join(messages), http.HTTP_400_BAD_REQUEST, errors=err.message_dict
            )
        except IdempotencyConflictError as err:
            return _error(
                "invalid",
                f"idempotency_key {key!r} was already used for a different call (call "
                f"attempt {err.attempt_id}); click again for a new call.",
                http.HTTP_409_CONFLICT,
            )
        # The call was placed (or queued) when the attempt was committed.
        attempt.refresh_from_db()
        body: dict[str, Any] = {
            "status": attempt.status,
            "attempt": attempt.pk,
            "created": created,
        }
        if attempt.status == CallAttempt.Status.PLACED:
            body["sid"] = attempt.sid
        else:
            body["reason"] = attempt_reason(attempt)
        in_progress = attempt.status in CallAttempt.IN_PROGRESS
        return Response(body, status=http.HTTP_202_ACCEPTED if in_progress else http.HTTP_200_OK)


call_button = CallButtonView.as_view()
