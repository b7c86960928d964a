"""System checks of the CRM write-back settings. Write-back is optional: nothing is
reported while no provider is configured."""

from __future__ import annotations

import importlib.util

from django.core.checks import CheckMessage, Error, Warning

from ..checks import _is_loopback, settings_check
from ..conf import app_settings


@settings_check
def check_crm_writeback_settings() -> list[CheckMessage]:
    hubspot_token = app_settings.HUBSPOT_ACCESS_TOKEN
    salesforce = {
        name: getattr(app_settings, f"SALESFORCE_{name}")
        for name in ("INSTANCE_URL", "CLIENT_ID", "CLIENT_SECRET")
    }
    pipedrive_token = app_settings.PIPEDRIVE_API_TOKEN
    timeout = app_settings.CRM_WRITEBACK_TIMEOUT
    max_tries = app_settings.CRM_WRITEBACK_MAX_TRIES
    messages: list[CheckMessage] = []
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        messages.append(
            Error(
                f"CLICKTOAGENT['CRM_WRITEBACK_TIMEOUT'] must be more than 0 seconds, got "
                f"{timeout!r}.",
                id="clicktoagent.E301",
            )
        )
    if not isinstance(max_tries, int) or isinstance(max_tries, bool) or max_tries < 1:
        messages.append(
            Error(
                f"CLICKTOAGENT['CRM_WRITEBACK_MAX_TRIES'] must be 1 or more, got {max_tries!r}.",
                id="clicktoagent.E302",
            )
        )
    if hubspot_token and importlib.util.find_spec("hubspot") is None:
        messages.append(
            Error(
                "HubSpot write-back is on (HUBSPOT_ACCESS_TOKEN is set) but hubspot-api-client "
                "is not installed.",
                hint="pip install 'django-clicktoagent[hubspot]'.",
                id="clicktoagent.E303",
            )
        )
    set_names = [name for name, value in salesforce.items() if value]
    if set_names and len(set_names) < len(salesforce):
        missing = ", ".join(f"SALESFORCE_{n}" for n in salesforce if not salesforce[n])
        messages.append(
            Warning(
                f"Salesforce write-back is off until {missing} is set as well.",
                hint="Set SALESFORCE_INSTANCE_URL, SALESFORCE_CLIENT_ID and "
                "SALESFORCE_CLIENT_SECRET (docs/crm.md), or none of them.",
                id="clicktoagent.W301",
            )
        )
    for enabled, name in (
        (hubspot_token, "HUBSPOT_API_BASE_URL"),
        (all(salesforce.values()), "SALESFORCE_INSTANCE_URL"),
        (pipedrive_token, "PIPEDRIVE_API_BASE_URL"),
    ):
        url = str(getattr(app_settings, name))
        if not enabled:
            continue
        if not url.startswith(("http://", "https://")) or "@" in url:
            messages.append(
                Error(
                    f"CLICKTOAGENT['{name}'] must be an http(s) URL without user or password.",
                    id="clicktoagent.E304",
                )
            )
        elif url.startswith("http://") and not _is_loopback(url):
            messages.append(
                Warning(
                    f"CLICKTOAGENT['{name}'] is plain http to another machine: the CRM "
                    "credentials would cross the network unencrypted.",
                    hint="Use https; plain http is only for a stand-in on a loopback address.",
                    id="clicktoagent.W302",
                )
            )
    return messages
