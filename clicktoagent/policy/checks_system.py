"""System checks of the safe-calling settings (docs/safe-calling.md)."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured

from ..checks import settings_check
from ..conf import app_settings
from .regions import entries
from .result import DO_NOT_CALL, RULES

RECORDING_CONSENT_CHOICES = ("adjust", "block")
OUTSIDE_HOURS_CHOICES = ("schedule", "block")


@settings_check
def check_safe_calling_settings() -> list[CheckMessage]:
    rules = app_settings.SAFE_CALLING_RULES
    consent = app_settings.RECORDING_CONSENT
    outside = app_settings.OUTSIDE_HOURS
    cap = app_settings.DAILY_CAP_PER_NUMBER
    messages: list[CheckMessage] = []
    codes: list[Any] = []
    if rules is not None and (isinstance(rules, str) or not isinstance(rules, list | tuple)):
        messages.append(
            Error(
                f"CLICKTOAGENT['SAFE_CALLING_RULES'] must be a list of rule codes, got {rules!r}.",
                hint=f"Use some of {', '.join(RULES)}, or () for none.",
                id="clicktoagent.E401",
            )
        )
    else:
        codes = list(rules or ())
        unknown = [code for code in codes if code not in RULES]
        if unknown:
            messages.append(
                Error(
                    "CLICKTOAGENT['SAFE_CALLING_RULES'] names unknown rule(s): "
                    f"{', '.join(map(repr, unknown))}.",
                    hint=f"The rules are {', '.join(RULES)}.",
                    id="clicktoagent.E401",
                )
            )
    if DO_NOT_CALL not in codes:
        messages.append(
            Warning(
                "The do_not_call rule is off: numbers on the do-not-call list can be called.",
                hint="Add 'do_not_call' to CLICKTOAGENT['SAFE_CALLING_RULES'] "
                "(CLICKTOAGENT_SAFE_CALLING_RULES in the demo project), or silence "
                "clicktoagent.W401 when another system keeps that list.",
                id="clicktoagent.W401",
            )
        )
    try:
        entries()
    except ImproperlyConfigured as err:
        messages.append(Error(str(err), id="clicktoagent.E402"))
    if consent not in RECORDING_CONSENT_CHOICES:
        messages.append(
            Error(
                f"CLICKTOAGENT['RECORDING_CONSENT'] must be 'adjust' or 'block', got {consent!r}.",
                id="clicktoagent.E403",
            )
        )
    if outside not in OUTSIDE_HOURS_CHOICES:
        messages.append(
            Error(
                f"CLICKTOAGENT['OUTSIDE_HOURS'] must be 'schedule' or 'block', got {outside!r}.",
                id="clicktoagent.E404",
            )
        )
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
        messages.append(
            Error(
                "CLICKTOAGENT['DAILY_CAP_PER_NUMBER'] must be None or a whole number of at "
                f"least 1, got {cap!r}.",
                id="clicktoagent.E405",
            )
        )
    return messages
