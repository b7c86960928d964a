"""``POST /clicktoagent/api/call-checks/``: the safe-calling rules as a dry run."""

from __future__ import annotations

from collections.abc import Sequence

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, permissions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from ..calls.checks import call_check_preview
from . import schema
from .permissions import CanPlaceCalls
from .serializers import CallCheckInputSerializer, CallCheckSerializer
from .throttling import CallCheckThrottle
from .views import ApiViewMixin


class CallCheckView(ApiViewMixin, generics.GenericAPIView):  # type: ignore[type-arg]
    """Would this call go out now (or at ``at``), and if not, why and when?"""

    serializer_class = CallCheckInputSerializer

    def get_permissions(self) -> Sequence[BasePermission]:
        return [permissions.IsAuthenticated(), CanPlaceCalls()]

    def get_throttles(self) -> list[BaseThrottle]:
        return [*super().get_throttles(), CallCheckThrottle()]

    @extend_schema(
        summary="Check a call against the safe-calling rules",
        description="Checks calling hours in the contact's time zones, the do-not-call "
        "list, the daily cap per number (counting past attempts as they are now), "
        "recording consent and the queue's hours, at `at` or now. Nothing is stored and "
        "nobody is called.",
        request=CallCheckInputSerializer,
        responses={200: CallCheckSerializer, **schema.ERRORS_INPUT, 429: schema.THROTTLED},
        examples=[
            OpenApiExample(
                "A Florida number early in the morning",
                value={"phone_to_call": "(850) 555-0134", "at": "2026-11-27T07:12:00-06:00"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = CallCheckInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        check = call_check_preview(**data.validated_data)
        body = {
            "allowed": check.allowed,
            "violations": check.violation_dicts(),
            "adjustments": check.adjustments,
            "timezones": list(check.timezones),
            "region": check.region,
            "next_allowed_at": check.next_allowed_at,
        }
        return Response(CallCheckSerializer(body).data)
