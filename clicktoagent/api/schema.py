"""OpenAPI schema helpers (drf-spectacular): the error bodies and the endpoint filter."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from .serializers import ErrorSerializer

# A 400 answer: field name -> messages (DRF's validation error shape). A body that is not
# JSON, or nests deeper than JSON_MAX_DEPTH, answers {"detail": "..."}; a list field
# answers {"field": {"index": [messages]}}.
_MESSAGES: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Field name -> what was wrong with it. `non_field_errors` for the whole body.",
    "additionalProperties": {
        "anyOf": [
            _MESSAGES,
            {"type": "string"},
            {"type": "object", "additionalProperties": _MESSAGES},
        ]
    },
}

BAD_REQUEST = OpenApiResponse(
    VALIDATION_ERROR_SCHEMA,
    description="Invalid input: nothing was stored or sent.",
    examples=[
        OpenApiExample(
            "Invalid phone number",
            value={
                "phone_to_call": [
                    "'555-01' is not a valid phone number (check the area "
                    "code and the number of digits)."
                ]
            },
            status_codes=["400"],
        )
    ],
)
UNAUTHENTICATED = OpenApiResponse(ErrorSerializer, description="Not authenticated.")
FORBIDDEN = OpenApiResponse(ErrorSerializer, description="Authenticated, but not permitted.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such object.")
CONFLICT_IDEMPOTENCY = OpenApiResponse(
    ErrorSerializer,
    description="The Idempotency-Key was already used with a different request.",
)
CONFLICT_STATE = OpenApiResponse(
    ErrorSerializer, description="The attempt is not in a state that allows this."
)
CONFLICT_RETRY = OpenApiResponse(
    ErrorSerializer,
    description="The attempt is not failed or unknown; or it is `unknown` and the body did "
    'not confirm it with `{"confirm_unknown": true}`: its request may have reached '
    "DialogTech, so the contact may already have been called. Nothing was dialled.",
    examples=[
        OpenApiExample(
            "Unknown attempt, not confirmed",
            value={
                "detail": "Call attempt 42 is unknown: the request may have reached "
                "DialogTech, so the contact may already have been called. Retry it only "
                "once you are sure they should be called again, and confirm it: repeat "
                'this request with {"confirm_unknown": true} in the body.'
            },
            status_codes=["409"],
        )
    ],
)
THROTTLED = OpenApiResponse(
    ErrorSerializer,
    description="Too many calls placed by this user (API creates and retries and call "
    "button clicks count together); the Retry-After header says when to try again.",
)

DNC_THROTTLED = OpenApiResponse(
    ErrorSerializer,
    description="Too many do-not-call changes by this user (DNC_API_THROTTLE_RATE); the "
    "Retry-After header says when to try again.",
)
CONFLICT_LISTED = OpenApiResponse(
    ErrorSerializer,
    description="The number is already on the list; the entry is unchanged.",
    examples=[
        OpenApiExample(
            "Already listed",
            value={
                "detail": "+13125550123 is already on the do-not-call list (entry 7, added "
                "2026-01-31); delete that entry first to add it again."
            },
            status_codes=["409"],
        )
    ],
)

TOO_LARGE = OpenApiResponse(
    ErrorSerializer,
    description="The body is larger than API_MAX_BODY_BYTES (64 KiB by default).",
)

ERRORS_READ = {401: UNAUTHENTICATED, 403: FORBIDDEN}
# Every request that may carry a body: its size is checked before it is read.
ERRORS_WRITE = {413: TOO_LARGE}
# A request whose body is validated: bad input, as well as the above.
ERRORS_INPUT = {400: BAD_REQUEST, **ERRORS_READ, **ERRORS_WRITE}


def only_clicktoagent_api(
    endpoints: list[tuple[str, str, str, Any]], **kwargs: Any
) -> list[tuple[str, str, str, Any]]:
    """Keep only this app's REST API in the schema, wherever the host mounts it."""
    return [
        endpoint
        for endpoint in endpoints
        if getattr(getattr(endpoint[3], "cls", None), "__module__", "").startswith(
            "clicktoagent.api."
        )
    ]
