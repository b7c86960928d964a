"""The do-not-call list through the API: list, add, remove (``/api/do-not-call/``)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from .. import donotcall
from ..models import DoNotCallEntry
from . import schema
from .permissions import ModelPermissions
from .serializers import DoNotCallEntryInputSerializer, DoNotCallEntrySerializer
from .throttling import DoNotCallWriteThrottle
from .views import ActionThrottleMixin, ApiViewMixin, Pagination, _requester


class DoNotCallPagination(Pagination):
    ordering = ("-added_at", "-id")


WRITE_ERRORS = {**schema.ERRORS_READ, **schema.ERRORS_WRITE, 429: schema.DNC_THROTTLED}
INPUT_ERRORS = {400: schema.BAD_REQUEST, **WRITE_ERRORS}


@extend_schema_view(
    list=extend_schema(
        summary="List do-not-call entries",
        description="Newest first. Needs `clicktoagent.view_donotcallentry`.",
        responses={
            200: DoNotCallEntrySerializer(many=True),
            400: schema.BAD_REQUEST,
            **schema.ERRORS_READ,
        },
    ),
    create=extend_schema(
        summary="Add a number to the do-not-call list",
        description="The number may be typed any way people type it; it is stored in "
        "E.164. Any valid number of `PHONE_REGIONS` is accepted, whatever its type. "
        "Needs `clicktoagent.add_donotcallentry`.",
        request=DoNotCallEntryInputSerializer,
        responses={201: DoNotCallEntrySerializer, 409: schema.CONFLICT_LISTED, **INPUT_ERRORS},
        examples=[
            OpenApiExample(
                "List a number",
                value={"phone_number": "(312) 555-0123", "reason": "Asked on the phone"},
                request_only=True,
            )
        ],
    ),
    destroy=extend_schema(
        summary="Remove a do-not-call entry",
        description="The number may be called again. Needs `clicktoagent.delete_donotcallentry`.",
        responses={204: None, 404: schema.NOT_FOUND, **WRITE_ERRORS},
    ),
)
class DoNotCallEntryViewSet(
    ActionThrottleMixin,
    ApiViewMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet[DoNotCallEntry],
):
    """Numbers that must never be called."""

    serializer_class = DoNotCallEntrySerializer
    pagination_class = DoNotCallPagination
    permission_classes = [permissions.IsAuthenticated, ModelPermissions]
    lookup_value_regex = r"[^/]+"  # Not digits only: a bad id is a JSON 404 from DRF.
    action_throttle = DoNotCallWriteThrottle
    throttled_actions = ("create", "destroy")

    def get_queryset(self) -> QuerySet[DoNotCallEntry]:
        return donotcall.dnc_list()

    def create(self, request: Request) -> Response:
        data = DoNotCallEntryInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = donotcall.dnc_add(
            **data.validated_data, source=donotcall.SOURCE_API, added_by=_requester(request)
        )
        fresh = self.get_queryset().get(pk=entry.pk)
        return Response(DoNotCallEntrySerializer(fresh).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, pk: str) -> Response:
        donotcall.dnc_remove(entry=self.get_object(), removed_by=_requester(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
