"""Per-user throttling of attempt creation."""

from __future__ import annotations

from rest_framework.throttling import UserRateThrottle

from ..conf import app_settings


class CallAttemptCreateThrottle(UserRateThrottle):
    """``CLICKTOAGENT["API_CREATE_THROTTLE_RATE"]`` attempts per user, read per request."""

    scope = "clicktoagent_create"

    def get_rate(self) -> str | None:
        rate: str | None = app_settings.API_CREATE_THROTTLE_RATE
        return rate
