"""What a safe-calling check found: the rules a call breaks now, and what it changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..models import CallAttempt

# The rules, by code (SAFE_CALLING_RULES, the violations' "rule").
CALLING_HOURS = "calling_hours"
DO_NOT_CALL = "do_not_call"
DAILY_CAP = "daily_cap"
RECORDING_CONSENT = "recording_consent"
QUEUE_HOURS = "queue_hours"
RULES = (CALLING_HOURS, DO_NOT_CALL, DAILY_CAP, RECORDING_CONSENT, QUEUE_HOURS)
# Rules that time fixes (a call can be scheduled past them), and that a user with the
# override_guardrails permission may skip, with a reason.
TIME_RULES = frozenset({CALLING_HOURS, QUEUE_HOURS, DAILY_CAP})


@dataclass(frozen=True)
class Violation:
    """One rule a call breaks. ``next_allowed_at`` is when this rule alone would allow
    it (None: time does not fix it, e.g. a do-not-call entry)."""

    rule: str
    message: str
    next_allowed_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """As stored on the attempt and answered by the API."""
        return {
            "rule": self.rule,
            "message": self.message,
            "next_allowed_at": (
                self.next_allowed_at.isoformat() if self.next_allowed_at is not None else None
            ),
        }


@dataclass(frozen=True)
class CallCheck:
    """The outcome of checking one call at one instant against the rules that apply.

    - ``violations``: every rule broken (not only the first), overridden ones excluded;
    - ``overridden``: the time rules broken but skipped by an override;
    - ``adjustments``: changes the call needs and got, e.g. ``{"warning": 1}``;
    - ``timezones``: the called party's possible zones; ``region``: the state or
      province whose rules applied (e.g. ``"US-FL"``), or the country when unknown;
    - ``next_allowed_at``: the check's instant when allowed; else the first instant at
      which every rule allows the call, or None when time does not fix it.
    """

    violations: tuple[Violation, ...] = ()
    overridden: tuple[Violation, ...] = ()
    adjustments: dict[str, int] = field(default_factory=dict)
    timezones: tuple[str, ...] = ()
    region: str = ""
    next_allowed_at: datetime | None = None

    @property
    def allowed(self) -> bool:
        return not self.violations

    @property
    def waits(self) -> bool:
        """Broken only by rules that time fixes, and a moment is known when it may go."""
        return (
            bool(self.violations)
            and all(v.rule in TIME_RULES for v in self.violations)
            and self.next_allowed_at is not None
        )

    def schedules(self, outside_hours: str) -> bool:
        """Whether a call this check stops waits for ``next_allowed_at`` (broken only by
        time rules, and its ``outside_hours`` is "schedule") rather than ending blocked."""
        return self.waits and outside_hours == CallAttempt.OutsideHours.SCHEDULE

    def violation_dicts(self) -> list[dict[str, Any]]:
        return [v.as_dict() for v in self.violations]

    def attempt_values(self) -> dict[str, Any]:
        """The attempt fields this check sets: ``violations``, ``adjustments`` (and the
        adjusted fields themselves, e.g. ``warning``), ``overridden_rules``."""
        return {
            "violations": self.violation_dicts(),
            "adjustments": dict(self.adjustments),
            "overridden_rules": [v.rule for v in self.overridden],
            **self.adjustments,
        }

    def summary(self) -> str:
        """The violations as one sentence per rule, for an attempt's ``error``."""
        return " ".join(v.message for v in self.violations)
