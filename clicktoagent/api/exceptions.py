"""Our exceptions -> HTTP, in one table. Every error answer is JSON."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..exceptions import (
    AlreadyListedError,
    IdempotencyConflictError,
    InvalidTransitionError,
    OverrideNotPermittedError,
    UnconfirmedRetryError,
)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def _validation_error(err: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(err, "error_dict"):
        return exceptions.ValidationError(err.message_dict)
    return exceptions.ValidationError({"non_field_errors": err.messages})


# Service exception -> API exception. DRF's own exceptions (401, 403, 404, 405, 415,
# 429 ...) pass through unchanged.
EXCEPTION_MAP: dict[type[Exception], Any] = {
    DjangoValidationError: _validation_error,  # 400, field -> messages
    IdempotencyConflictError: lambda err: Conflict(str(err), code="idempotency_conflict"),
    InvalidTransitionError: lambda err: Conflict(str(err), code="invalid_transition"),
    OverrideNotPermittedError: lambda err: exceptions.PermissionDenied(str(err)),
    AlreadyListedError: lambda err: Conflict(str(err), code="already_listed"),
    UnconfirmedRetryError: lambda err: Conflict(
        f'{str(err).rstrip(".")}: repeat this request with {{"confirm_unknown": true}} in '
        "the body.",
        code="unknown_retry_not_confirmed",
    ),
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, after translating the app's exceptions with :data:`EXCEPTION_MAP`."""
    for exc_class, translate in EXCEPTION_MAP.items():
        if isinstance(exc, exc_class):
            exc = translate(exc)
            break
    return drf_exception_handler(exc, context)
