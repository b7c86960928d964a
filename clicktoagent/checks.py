"""System checks: configuration problems reported by ``manage.py check``."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .conf import app_settings
from .throttles import parse_rate


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        base_url = app_settings.BASE_URL
        access_key = app_settings.ACCESS_KEY
        secret = app_settings.SECRET_ACCESS_KEY
    except ImproperlyConfigured as err:
        return [Error(str(err), id="clicktoagent.E001")]
    messages: list[CheckMessage] = []
    if not access_key or not secret:
        messages.append(
            Warning(
                "DialogTech credentials are missing: calls will fail until "
                "CLICKTOAGENT['ACCESS_KEY'] and CLICKTOAGENT['SECRET_ACCESS_KEY'] are set.",
                hint="Set DIALOGTECH_ACCESS_KEY and DIALOGTECH_SECRET_ACCESS_KEY in the "
                "environment (see .env.example).",
                id="clicktoagent.W001",
            )
        )
    if not str(base_url).startswith(("http://", "https://")):
        messages.append(
            Error(
                "CLICKTOAGENT['BASE_URL'] must be an http(s) URL.",
                id="clicktoagent.E002",
            )
        )
    if app_settings.DEFAULT_RECORD not in (0, 1):
        messages.append(
            Error("CLICKTOAGENT['DEFAULT_RECORD'] must be 0 or 1.", id="clicktoagent.E003")
        )
    if app_settings.DEFAULT_WARNING not in (0, 1, 2, 3):
        messages.append(
            Error("CLICKTOAGENT['DEFAULT_WARNING'] must be 0, 1, 2 or 3.", id="clicktoagent.E004")
        )
    try:
        parse_rate(app_settings.API_CREATE_THROTTLE_RATE, setting="API_CREATE_THROTTLE_RATE")
    except ImproperlyConfigured as err:
        messages.append(Error(str(err), id="clicktoagent.E010"))
    failures = app_settings.WEBHOOK_AUTH_FAILURES_PER_MINUTE
    if not isinstance(failures, int) or isinstance(failures, bool) or failures < 0:
        messages.append(
            Error(
                "CLICKTOAGENT['WEBHOOK_AUTH_FAILURES_PER_MINUTE'] must be a whole number, "
                f"0 to turn the limit off; got {failures!r}.",
                id="clicktoagent.E011",
            )
        )
    return messages
