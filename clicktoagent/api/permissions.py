"""Who may do what through the API."""

from __future__ import annotations

from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from ..models import (
    CHANGE_CALL_ATTEMPT_PERMISSION,
    PLACE_CALL_PERMISSION,
    VIEW_CALL_ATTEMPT_PERMISSION,
)


class CanPlaceCalls(permissions.BasePermission):
    """Creating, retrying and cancelling attempts (and the call button) need
    ``clicktoagent.place_call``; which attempts a user may act on is
    ``selectors.call_attempt_can_act``."""

    message = "You need the clicktoagent.place_call permission to place calls."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(PLACE_CALL_PERMISSION))


class CanViewCallAttempts(permissions.BasePermission):
    """Reading attempts needs ``view_callattempt``, ``change_callattempt`` (every
    attempt) or ``place_call`` (one's own: ``selectors.call_attempt_visible_to``)."""

    message = (
        "You need the clicktoagent.view_callattempt or clicktoagent.place_call permission "
        "to read call attempts."
    )

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and (
                user.has_perm(VIEW_CALL_ATTEMPT_PERMISSION)
                or user.has_perm(CHANGE_CALL_ATTEMPT_PERMISSION)
                or user.has_perm(PLACE_CALL_PERMISSION)
            )
        )


class ModelPermissions(permissions.DjangoModelPermissions):
    """Django's model permissions, with reads needing the ``view`` permission too."""

    perms_map: dict[str, list[str]] = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }
