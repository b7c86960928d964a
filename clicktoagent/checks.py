"""System checks: configuration problems reported by ``manage.py check``."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .conf import app_settings
from .phone import TYPE_LABELS
from .throttles import parse_rate

SettingsCheck = Callable[[], list[CheckMessage]]


def settings_check(check: SettingsCheck) -> Callable[..., list[CheckMessage]]:
    """Register a check of some CLICKTOAGENT settings. While the settings cannot be read
    at all it reports nothing: that is clicktoagent.E001's (``check_settings``)."""

    @functools.wraps(check)
    def run(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
        try:
            return check()
        except ImproperlyConfigured:
            return []  # reported by clicktoagent.E001

    del run.__wrapped__  # Django reads the signature: it must be run's, with **kwargs.
    return register()(run)


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
    elif str(base_url).startswith("http://") and not _is_loopback(str(base_url)):
        messages.append(
            Warning(
                "CLICKTOAGENT['BASE_URL'] is plain http to another machine: the DialogTech "
                "access keys would cross the network unencrypted.",
                hint="Use https (DIALOGTECH_BASE_URL); plain http is only for the local "
                "emulator on a loopback address.",
                id="clicktoagent.W002",
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
    total = app_settings.TOTAL_TIMEOUT
    if total is not None and (not isinstance(total, int | float) or total < 0):
        messages.append(
            Error(
                f"CLICKTOAGENT['TOTAL_TIMEOUT'] must be a number of seconds, got {total!r}.",
                hint="Use None or 0 for CONNECT_TIMEOUT + READ_TIMEOUT (DIALOGTECH_TOTAL_TIMEOUT "
                "in the demo project).",
                id="clicktoagent.E005",
            )
        )
    margin = app_settings.RECONCILE_DISPATCHING_MARGIN
    if not isinstance(margin, int | float) or margin <= 0:
        messages.append(
            Error(
                "CLICKTOAGENT['RECONCILE_DISPATCHING_MARGIN'] must be more than 0 seconds, "
                f"got {margin!r}: a worker only sends an attempt within this margin of "
                "claiming it, so with 0 no call is ever sent.",
                id="clicktoagent.E006",
            )
        )
    unknown_types = [name for name in app_settings.PHONE_ALLOWED_TYPES if name not in TYPE_LABELS]
    if unknown_types:
        messages.append(
            Error(
                "CLICKTOAGENT['PHONE_ALLOWED_TYPES'] names unknown number type(s): "
                f"{', '.join(repr(name) for name in unknown_types)}.",
                hint=f"Use names of phonenumbers.PhoneNumberType: {', '.join(TYPE_LABELS)}.",
                id="clicktoagent.E007",
            )
        )
    for rate_setting in ("API_CREATE_THROTTLE_RATE", "DNC_API_THROTTLE_RATE"):
        try:
            parse_rate(getattr(app_settings, rate_setting), setting=rate_setting)
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
    queue = app_settings.DISPATCH_QUEUE
    if queue and (
        not isinstance(queue, str) or not queue.startswith(("redis://", "rediss://", "unix://"))
    ):
        messages.append(
            Error(
                "CLICKTOAGENT['DISPATCH_QUEUE'] must be None (a dispatch task per attempt "
                "on TASK_BACKEND) or a Redis URL (redis://, rediss:// or unix://).",
                hint="CLICKTOAGENT_DISPATCH_QUEUE=redis in the demo project uses REDIS_URL.",
                id="clicktoagent.E012",
            )
        )
    return messages


def _is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (the emulator): localhost or a loopback IP."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
