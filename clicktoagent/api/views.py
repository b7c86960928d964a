"""REST API views: input serializer -> one service or selector -> output serializer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, Throttled, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from .. import directory
from ..calls import selectors
from ..calls.services import (
    call_attempt_cancel,
    call_attempt_get_or_create,
    call_attempt_retry_get_or_create,
)
from ..exceptions import IdempotencyConflictError
from ..models import Agent, CallAttempt, Queue
from . import schema
from .exceptions import Conflict, exception_handler
from .parsers import API_PARSERS, body_size_check
from .permissions import CanPlaceCalls, CanViewCallAttempts, ModelPermissions
from .serializers import (
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_MAX_LENGTH,
    IDEMPOTENCY_KEY_PATTERN,
    AgentInputSerializer,
    AgentSerializer,
    CallAttemptCreateSerializer,
    CallAttemptFilterSerializer,
    CallAttemptRetrySerializer,
    CallAttemptSerializer,
    QueueInputSerializer,
    QueueSerializer,
    call_attempt_data,
    call_attempts_data,
    parse_idempotency_key,
)
from .throttling import CallAttemptCreateThrottle, SharedUserThrottle

Source = CallAttempt.Source


class Pagination(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except NotFound as err:  # DRF answers 404 for a bad cursor; it is bad input.
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from err

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        try:
            return super().paginate_queryset(queryset, request, view)
        except DjangoValidationError as err:  # A well-formed cursor holding a bad position.
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from err


class CallAttemptPagination(Pagination):
    ordering = ("-created_at", "-id")


class LookupPagination(Pagination):
    """Pages in the order of the view's lookup field, the object's public id."""

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> Any:
        self.ordering = (view.lookup_field,)
        return super().get_ordering(request, queryset, view)


class ApiViewMixin:
    """What every view of this API shares, whatever the host's DRF settings say."""

    parser_classes = API_PARSERS

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        # Once the caller is known and allowed, and before any of the body is read.
        body_size_check(request)

    def get_exception_handler(self) -> Callable[..., Response | None]:
        return exception_handler

    def get_authenticate_header(self, request: Request) -> str:
        # Answer 401 with a challenge whenever any configured scheme has one (DRF only
        # asks the first, and session authentication has none, which would give 403).
        for authenticator in self.get_authenticators():  # type: ignore[attr-defined]
            header = authenticator.authenticate_header(request)
            if header:
                return str(header)
        return ""

    @classmethod
    def as_view(cls, *args: Any, **kwargs: Any) -> Any:
        # Never inside ATOMIC_REQUESTS: the service's own transaction must commit before
        # the response, so that the call is dispatched (or queued) while we answer.
        view = super().as_view(*args, **kwargs)  # type: ignore[misc]
        return transaction.non_atomic_requests(view)


class ActionThrottleMixin:
    """One more throttle on some actions, a per-user count shared by every process; a
    429 says that throttle's rate."""

    action_throttle: type[SharedUserThrottle]
    throttled_actions: tuple[str, ...]

    def get_throttles(self) -> list[BaseThrottle]:
        throttles = list(super().get_throttles())  # type: ignore[misc]
        if self.action in self.throttled_actions:  # type: ignore[attr-defined]
            throttles.append(self.action_throttle())
        return throttles

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        raise Throttled(wait, detail=self.action_throttle.throttled_detail())


def _requester(request: Request) -> AbstractBaseUser:
    user = request.user
    assert isinstance(user, AbstractBaseUser), "IsAuthenticated lets only users in"
    return user


def _attempt_response(attempt: CallAttempt, *, created: bool) -> Response:
    """200 for an idempotent repeat, 201 when dispatch finished, 202 when still queued."""
    code: int
    if not created:
        code = status.HTTP_200_OK
    elif attempt.status in CallAttempt.IN_PROGRESS:
        code = status.HTTP_202_ACCEPTED
    else:
        code = status.HTTP_201_CREATED
    return Response(call_attempt_data(attempt), status=code)


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    {
        "type": "string",
        "minLength": 1,
        "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH,
        "pattern": IDEMPOTENCY_KEY_PATTERN,
    },
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "A key of your choosing (e.g. a UUID) that makes the request safe to repeat: a "
        "repeat with the same key and body answers 200 with the first attempt and places "
        "no second call; the same key with a different body answers 409. Keys are scoped "
        "to the authenticated user."
    ),
)

ATTEMPT_CREATED = OpenApiResponse(
    CallAttemptSerializer,
    description="The call was dispatched within the request; `status` is its outcome "
    "(`placed`, `failed` with DialogTech's `result_description`, or `unknown`).",
)
ATTEMPT_ACCEPTED = OpenApiResponse(
    CallAttemptSerializer,
    description="The attempt was stored and its dispatch queued; it is still `pending`.",
)
ATTEMPT_REPEAT = OpenApiResponse(
    CallAttemptSerializer,
    description="A repeat of a request already answered: the attempt it made, as it is "
    "now. No second call was placed.",
)


@extend_schema_view(
    list=extend_schema(
        summary="List call attempts",
        parameters=[CallAttemptFilterSerializer],
        responses={
            200: CallAttemptSerializer(many=True),
            400: schema.BAD_REQUEST,
            **schema.ERRORS_READ,
        },
    ),
    retrieve=extend_schema(
        summary="Get a call attempt",
        responses={200: CallAttemptSerializer, 404: schema.NOT_FOUND, **schema.ERRORS_READ},
    ),
)
class CallAttemptViewSet(ActionThrottleMixin, ApiViewMixin, viewsets.GenericViewSet[CallAttempt]):
    """Place calls through DialogTech and follow their outcome."""

    action_throttle = CallAttemptCreateThrottle
    throttled_actions = ("create", "retry")

    serializer_class = CallAttemptSerializer
    pagination_class = CallAttemptPagination
    lookup_value_regex = r"[^/]+"  # Not digits only: a bad id is a JSON 404 from DRF.

    def get_queryset(self) -> QuerySet[CallAttempt]:
        # Another user's attempt that this user may not see is simply not found (404).
        return selectors.call_attempt_visible_to(user=self.request.user)

    def get_permissions(self) -> Sequence[BasePermission]:
        if self.action in ("create", "retry", "cancel"):
            return [permissions.IsAuthenticated(), CanPlaceCalls()]
        return [permissions.IsAuthenticated(), CanViewCallAttempts()]

    def get_actionable_object(self) -> CallAttempt:
        """The attempt to retry or cancel: 404 when unseen, 403 when seen but not ours."""
        attempt = self.get_object()
        if not selectors.call_attempt_can_act(user=self.request.user, attempt=attempt):
            raise PermissionDenied(selectors.CANNOT_ACT_MESSAGE)
        return attempt

    def list(self, request: Request) -> Response:
        filters = CallAttemptFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        attempts = selectors.call_attempt_visible_to(
            user=request.user, attempts=selectors.call_attempt_list(**filters.validated_data)
        )
        page = self.paginate_queryset(attempts)
        return self.get_paginated_response(call_attempts_data(page))

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(CallAttemptSerializer(self.get_object()).data)

    @extend_schema(
        summary="Place a call",
        request=CallAttemptCreateSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            200: ATTEMPT_REPEAT,
            201: ATTEMPT_CREATED,
            202: ATTEMPT_ACCEPTED,
            **schema.ERRORS_INPUT,
            409: schema.CONFLICT_IDEMPOTENCY,
            429: schema.THROTTLED,
        },
        examples=[
            OpenApiExample(
                "Call a contact",
                value={
                    "queue_id": "12345",
                    "agent_id": "98765",
                    "phone_to_call": "(312) 555-0123",
                    "contact_ref": "hubspot:contact:501",
                },
                request_only=True,
            )
        ],
    )
    def create(self, request: Request) -> Response:
        key = parse_idempotency_key(request.headers.get(IDEMPOTENCY_HEADER))
        data = CallAttemptCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            attempt, created = call_attempt_get_or_create(
                **data.validated_data,
                source=Source.API,
                requested_by=_requester(request),
                # Keys are scoped to the user, so one client cannot collide with another's.
                idempotency_key=f"api:{request.user.pk}:{key}" if key else None,
            )
        except IdempotencyConflictError as err:
            # Name the caller's own key, never the scoped form it is stored under.
            raise Conflict(
                f"Idempotency-Key {key!r} was already used for a different request (call "
                f"attempt {err.attempt_id}); use a new key for a new call.",
                code="idempotency_conflict",
            ) from None
        # The dispatch ran (or was queued) when the service's transaction committed, and
        # the attempt the service returns holds its outcome.
        return _attempt_response(attempt, created=created)

    @extend_schema(
        summary="Retry a failed or unknown attempt",
        description="Makes a new attempt with the same call details, linked by `retry_of`. "
        "An attempt is retried at most once: repeating this answers 200 with the same new "
        "attempt. For an `unknown` attempt the contact may already have been called, so "
        'the body must confirm it: `{"confirm_unknown": true}`; without it the answer is '
        "409 and nobody is dialled. A user with `place_call` alone may retry the attempts "
        "they requested; other users' attempts need `change_callattempt` (403), or are "
        "not found (404) when the user may not see them.",
        request=CallAttemptRetrySerializer,
        responses={
            200: ATTEMPT_REPEAT,
            201: ATTEMPT_CREATED,
            202: ATTEMPT_ACCEPTED,
            # The call is validated again (400): its queue or agent may have changed since.
            **schema.ERRORS_INPUT,
            404: schema.NOT_FOUND,
            409: schema.CONFLICT_RETRY,
            429: schema.THROTTLED,
        },
        examples=[
            OpenApiExample(
                "Retry an unknown attempt on purpose",
                value={"confirm_unknown": True},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        attempt = self.get_actionable_object()
        data = CallAttemptRetrySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        retry, created = call_attempt_retry_get_or_create(
            attempt=attempt,
            source=Source.API,
            requested_by=_requester(request),
            confirm_unknown=data.validated_data["confirm_unknown"],
            override_reason=data.validated_data.get("override_reason", ""),
        )
        return _attempt_response(self.get_queryset().get(pk=retry.pk), created=created)

    @extend_schema(
        summary="Cancel a pending attempt",
        description="A user with `place_call` alone may cancel the attempts they "
        "requested; other users' attempts need `change_callattempt`.",
        request=None,
        responses={
            200: CallAttemptSerializer,
            **schema.ERRORS_READ,
            **schema.ERRORS_WRITE,
            404: schema.NOT_FOUND,
            409: schema.CONFLICT_STATE,
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        attempt = call_attempt_cancel(attempt=self.get_actionable_object())
        return Response(CallAttemptSerializer(self.get_queryset().get(pk=attempt.pk)).data)


def _crud_schema(name: str) -> Callable[[type[ManagedViewSet]], type[ManagedViewSet]]:
    """The schema of a ManagedViewSet, from its serializers and lookup field."""
    reads, writes = schema.ERRORS_READ, schema.ERRORS_INPUT

    def decorate(view: type[ManagedViewSet]) -> type[ManagedViewSet]:
        output: Any = view.serializer_class
        input_ = view.input_serializer_class
        return extend_schema_view(
            list=extend_schema(
                summary=f"List {name}s",
                responses={200: output(many=True), 400: schema.BAD_REQUEST, **reads},
            ),
            retrieve=extend_schema(
                summary=f"Get a {name} by {view.lookup_field}",
                responses={200: output, 404: schema.NOT_FOUND, **reads},
            ),
            create=extend_schema(
                summary=f"Create a {name}", request=input_, responses={201: output, **writes}
            ),
            update=extend_schema(
                summary=f"Change a {name}",
                request=input_,
                responses={200: output, 404: schema.NOT_FOUND, **writes},
            ),
            partial_update=extend_schema(
                summary=f"Change some fields of a {name}",
                request=input_,
                responses={200: output, 404: schema.NOT_FOUND, **writes},
            ),
        )(view)

    return decorate


class ManagedViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Any],
):
    """List, retrieve, create and update (no delete: deactivate with is_active)."""

    permission_classes = [permissions.IsAuthenticated, ModelPermissions]
    pagination_class = LookupPagination
    lookup_value_regex = r"[^/]+"
    input_serializer_class: type[Any]

    def get_object(self) -> Any:
        # PostgreSQL cannot even compare text holding NUL: no such object, not a 500.
        if "\x00" in str(self.kwargs.get(self.lookup_field, "")):
            raise NotFound()
        return super().get_object()

    def create_object(self, data: dict[str, Any]) -> Any:
        """Store a new object from the validated input (a directory service)."""
        raise NotImplementedError

    def update_object(self, instance: Any, data: dict[str, Any]) -> Any:
        """Change ``instance`` by the validated input (a directory service)."""
        raise NotImplementedError

    def _input(self, request: Request, *, partial: bool) -> dict[str, Any]:
        data = self.input_serializer_class(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        return dict(data.validated_data)

    def _represent(self, instance: Any) -> Any:
        fresh = self.get_queryset().get(pk=instance.pk)
        return self.get_serializer(fresh).data

    def create(self, request: Request) -> Response:
        instance = self.create_object(self._input(request, partial=False))
        return Response(self._represent(instance), status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._update(request, partial=False)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._update(request, partial=True)

    def _update(self, request: Request, *, partial: bool) -> Response:
        instance = self.get_object()  # 404 before the body is looked at
        instance = self.update_object(instance, self._input(request, partial=partial))
        return Response(self._represent(instance))


@_crud_schema("agent")
class AgentViewSet(ManagedViewSet):
    """DialogTech agents and their queue memberships."""

    serializer_class = AgentSerializer
    input_serializer_class = AgentInputSerializer
    lookup_field = "agent_id"

    def get_queryset(self) -> QuerySet[Agent]:
        return directory.agent_list()

    def create_object(self, data: dict[str, Any]) -> Agent:
        return directory.agent_create(**data)

    def update_object(self, instance: Agent, data: dict[str, Any]) -> Agent:
        return directory.agent_update(agent=instance, data=data)


@_crud_schema("queue")
class QueueViewSet(ManagedViewSet):
    """DialogTech queues (call distributor building blocks)."""

    serializer_class = QueueSerializer
    input_serializer_class = QueueInputSerializer
    lookup_field = "queue_id"

    def get_queryset(self) -> QuerySet[Queue]:
        return directory.queue_list()

    def create_object(self, data: dict[str, Any]) -> Queue:
        return directory.queue_create(**data)

    def update_object(self, instance: Queue, data: dict[str, Any]) -> Queue:
        return directory.queue_update(queue=instance, data=data)
