"""Safe calling when an attempt is created: the request's options, and what the rules
(``clicktoagent.policy``) decide for the new attempt.

The same rules are checked again right before sending (``dispatch.services``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import models

from ..conf import app_settings
from ..exceptions import OverrideNotPermittedError
from ..models import OVERRIDE_GUARDRAILS_PERMISSION, CallAttempt
from ..policy.checks import call_check_for, region_normalize
from ..validation import FieldErrors
from .request import CallRequest

OutsideHours = CallAttempt.OutsideHours


@dataclass(frozen=True)
class SafeCallingOptions:
    """What a request said about the rules: checked, ready to store on the attempt."""

    contact_region: str = ""
    outside_hours: str = OutsideHours.SCHEDULE
    override_reason: str = ""
    overridden_by: AbstractBaseUser | None = None

    @classmethod
    def validate(
        cls,
        *,
        phone_to_call: str,
        contact: models.Model | None = None,
        contact_region: str = "",
        outside_hours: str | None = None,
        override_reason: str = "",
        requested_by: AbstractBaseUser | None = None,
    ) -> SafeCallingOptions:
        """Check the options of one request; ``ValidationError`` per field, and
        ``OverrideNotPermittedError`` for an override from a user without the permission."""
        errors = FieldErrors()
        mode = outside_hours or app_settings.OUTSIDE_HOURS
        if mode not in OutsideHours.values:
            errors["outside_hours"] = [
                f"outside_hours must be one of {', '.join(OutsideHours.values)}, got {mode!r}."
            ]
        region = str(contact_region or contact_region_of(contact) or "").strip()
        if region and app_settings.SAFE_CALLING_RULES:
            with errors.check("contact_region"):
                region = region_normalize(region, phone_to_call=phone_to_call)
        reason = str(override_reason or "").strip()
        if override_reason and not reason:
            errors["override_reason"] = ["An override needs a reason."]
        errors.raise_if_any()
        if reason and not _may_override(requested_by):
            raise OverrideNotPermittedError(
                "Only users with the permission to override the safe-calling rules "
                f"({OVERRIDE_GUARDRAILS_PERMISSION}) may pass override_reason."
            )
        return cls(
            contact_region=region[:8],
            outside_hours=mode,
            override_reason=reason,
            overridden_by=requested_by if reason else None,
        )


def _may_override(user: AbstractBaseUser | None) -> bool:
    has_perm = getattr(user, "has_perm", None)
    return bool(has_perm is not None and has_perm(OVERRIDE_GUARDRAILS_PERMISSION))


def contact_region_of(contact: models.Model | None) -> str:
    field = app_settings.CONTACT_REGION_FIELD
    if contact is None or not field:
        return ""
    return str(getattr(contact, field, "") or "")


@dataclass(frozen=True)
class Decision:
    """What the rules decided for a new attempt: its field values, whether it is blocked
    (stored, never sent), and when it may be sent when it waits."""

    values: dict[str, Any]
    blocked: bool = False
    run_after: datetime | None = None
    error: str = ""

    @property
    def sendable_now(self) -> bool:
        return not self.blocked and self.run_after is None


def new_attempt_decide(call: CallRequest, options: SafeCallingOptions) -> Decision:
    """Check a new call against the rules, inside the transaction that stores it.

    Allowed: sent now. Held back only by rules that time fixes (calling hours, queue
    hours, the daily cap) with ``outside_hours="schedule"``: ``pending`` until the next
    moment every rule allows. Anything else: ``blocked``.
    """
    values: dict[str, Any] = {
        "contact_region": options.contact_region,
        "outside_hours": options.outside_hours,
        "override_reason": options.override_reason,
        "overridden_by": options.overridden_by,
    }
    if not app_settings.SAFE_CALLING_RULES:
        return Decision(values)
    check = call_check_for(
        call,
        contact_region=options.contact_region,
        override=bool(options.override_reason),
        lock=True,
    )
    values.update(check.attempt_values())
    if check.allowed:
        return Decision(values)
    if check.schedules(options.outside_hours):
        values["next_try_at"] = check.next_allowed_at
        return Decision(values, run_after=check.next_allowed_at)
    return Decision(values, blocked=True, error=check.summary())
