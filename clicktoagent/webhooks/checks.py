"""System checks every webhook endpoint shares (each provider checks its own settings in
its module): settings that cannot be read, and the callback allow-list."""

from __future__ import annotations

from django.core.checks import CheckMessage, Error, Warning

from ..checks import settings_check
from ..conf import app_settings
from .callback_policy import allowed_host_entry_problem


def unset_warning(endpoint: str, keys: str, *, hint: str, id: str) -> Warning:
    """The warning of an endpoint that refuses every delivery until ``keys`` are set."""
    return Warning(
        f"The {endpoint} webhook endpoint refuses every delivery until {keys} is set.",
        hint=hint,
        id=id,
    )


# Registers a provider's settings check; broken settings are clicktoagent.E001's.
provider_check = settings_check


@provider_check
def check_callback_hosts() -> list[CheckMessage]:
    hosts = app_settings.CALLBACK_ALLOWED_HOSTS
    if isinstance(hosts, str):
        hosts = hosts.split(",")
    if not isinstance(hosts, list | tuple | set | frozenset):
        return [
            Error(
                "CLICKTOAGENT['CALLBACK_ALLOWED_HOSTS'] must be a list of host names.",
                id="clicktoagent.E120",
            )
        ]
    messages: list[CheckMessage] = []
    for entry in hosts:
        problem = allowed_host_entry_problem(str(entry))
        if problem is not None:
            messages.append(
                Error(
                    f"CLICKTOAGENT['CALLBACK_ALLOWED_HOSTS']: {problem}.",
                    hint="Write 'crm.example.com' for one host, '.example.com' for it and "
                    "its subdomains.",
                    id="clicktoagent.E120",
                )
            )
    return messages
