"""The per-user limit on placing calls, shared by the API and the call button."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from ..conf import app_settings
from ..throttles import Rate, parse_rate, throttle_hit

SETTING = "API_CREATE_THROTTLE_RATE"


def call_rate() -> Rate | None:
    """``CLICKTOAGENT["API_CREATE_THROTTLE_RATE"]``, read per request (None: off)."""
    return parse_rate(app_settings.API_CREATE_THROTTLE_RATE, setting=SETTING)


def throttled_message(rate: Rate) -> str:
    return (
        f"Request was throttled: each user may place {rate.per('calls')}, through the API "
        f"and the call button together (CLICKTOAGENT['{SETTING}'] is {rate.text!r})."
    )


class SharedUserThrottle(BaseThrottle):
    """A per-user rate from a ``CLICKTOAGENT`` key, counted once for every process (see
    clicktoagent/throttles.py)."""

    setting = SETTING
    key_prefix = "calls"

    def __init__(self) -> None:
        self.retry_after: float | None = None
        self.rate: Rate | None = None

    @classmethod
    def current_rate(cls) -> Rate | None:
        """``CLICKTOAGENT[setting]``, read per request (None: off)."""
        return parse_rate(getattr(app_settings, cls.setting), setting=cls.setting)

    @staticmethod
    def message(rate: Rate) -> str | None:
        """What a 429 says about ``rate`` (None: DRF's own words)."""
        return None

    @classmethod
    def throttled_detail(cls) -> str | None:
        rate = cls.current_rate()
        return cls.message(rate) if rate else None

    def allow_request(self, request: Request, view: Any) -> bool:
        self.rate = self.current_rate()
        if self.rate is None:
            return True
        user = request.user
        ident = f"user:{user.pk}" if user and user.is_authenticated else self.get_ident(request)
        decision = throttle_hit(key=f"{self.key_prefix}:{ident}", rate=self.rate)
        self.retry_after = decision.retry_after
        return decision.allowed

    def wait(self) -> float | None:
        return self.retry_after


class CallAttemptCreateThrottle(SharedUserThrottle):
    """API creates and retries and call-button clicks, per user, in one counter."""

    message = staticmethod(throttled_message)


class CallCheckThrottle(SharedUserThrottle):
    """Call checks (dry runs) per user, apart from the calls they place."""

    setting = "CALL_CHECK_THROTTLE_RATE"
    key_prefix = "call-checks"


class DoNotCallWriteThrottle(SharedUserThrottle):
    """Each user's API adds and removals of do-not-call entries, in one counter."""

    setting = "DNC_API_THROTTLE_RATE"
    key_prefix = "dnc"

    @staticmethod
    def message(rate: Rate) -> str:
        return (
            f"Request was throttled: each user may make {rate.per('do-not-call changes')} "
            f"through the API (CLICKTOAGENT['DNC_API_THROTTLE_RATE'] is {rate.text!r})."
        )
