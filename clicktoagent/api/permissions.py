"""Who may do what through the API."""

from __future__ import annotations

from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from ..models import PLACE_CALL_PERMISSION

VIEW_CALL_ATTEMPT = "clicktoagent.view_callattempt"


class CanPlaceCalls(permissions.BasePermission):
    """Creating, retrying and cancelling attempts needs ``clicktoagent.place_call``."""

    message = "You need the clicktoagent.place_call permission to place calls."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(PLACE_CALL_PERMISSION))


class CanViewCallAttempts(permissions.BasePermission):
    """Reading attempts needs ``view_callattempt`` or ``place_call``."""

    message = (
        "You need the clicktoagent.view_callattempt or clicktoagent.place_call permission "
        "to read call attempts."
    )

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and (user.has_perm(VIEW_CALL_ATTEMPT) or user.has_perm(PLACE_CALL_PERMISSION))
        )


class ModelPermissions(permissions.DjangoModelPermissions):
    """Django's model permissions, with reads needing the ``view`` permission too."""

    perms_map: dict[str, list[str]] = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }
