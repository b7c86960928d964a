"""System checks: a webhook endpoint without its secret refuses every delivery, and
settings that could never match are errors."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from ..conf import app_settings


@register()
def check_webhook_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from .generic import standard_webhook

    try:
        secret = app_settings.WEBHOOK_SECRET
        hubspot = app_settings.HUBSPOT_CLIENT_SECRET
        orgs = app_settings.SALESFORCE_ORGANIZATION_IDS
        salesforce_token = app_settings.SALESFORCE_WEBHOOK_TOKEN
        pipedrive_user = app_settings.PIPEDRIVE_WEBHOOK_USER
        pipedrive_password = app_settings.PIPEDRIVE_WEBHOOK_PASSWORD
        callback_hosts = app_settings.CALLBACK_ALLOWED_HOSTS
    except ImproperlyConfigured:
        return []  # reported by clicktoagent.E001
    messages: list[CheckMessage] = []
    unset = "The {} webhook endpoint refuses every delivery until {} is set."
    if not secret:
        messages.append(
            Warning(
                unset.format("generic (Standard Webhooks)", "CLICKTOAGENT['WEBHOOK_SECRET']"),
                hint="Set CLICKTOAGENT_WEBHOOK_SECRET to a whsec_... secret.",
                id="clicktoagent.W101",
            )
        )
    elif standard_webhook() is None:
        messages.append(
            Error(
                "CLICKTOAGENT['WEBHOOK_SECRET'] is not a Standard Webhooks secret "
                "(whsec_ followed by base64).",
                id="clicktoagent.E101",
            )
        )
    if not hubspot:
        messages.append(
            Warning(
                unset.format("HubSpot", "CLICKTOAGENT['HUBSPOT_CLIENT_SECRET']"),
                hint="Set HUBSPOT_CLIENT_SECRET to the HubSpot app's client secret.",
                id="clicktoagent.W102",
            )
        )
    if isinstance(orgs, str):
        messages.append(
            Error(
                "CLICKTOAGENT['SALESFORCE_ORGANIZATION_IDS'] must be a list of ids.",
                id="clicktoagent.E102",
            )
        )
    elif not any(str(o).strip() for o in orgs):
        messages.append(
            Warning(
                unset.format("Salesforce", "CLICKTOAGENT['SALESFORCE_ORGANIZATION_IDS']"),
                hint="Set SALESFORCE_ORGANIZATION_IDS (comma-separated).",
                id="clicktoagent.W103",
            )
        )
    else:
        messages.extend(_check_salesforce_organizations(orgs))
    messages.extend(_check_salesforce_token(salesforce_token, unset))
    if not (pipedrive_user and pipedrive_password):
        messages.append(
            Warning(
                unset.format(
                    "Pipedrive",
                    "CLICKTOAGENT['PIPEDRIVE_WEBHOOK_USER'] and ['PIPEDRIVE_WEBHOOK_PASSWORD']",
                ),
                hint="Set PIPEDRIVE_WEBHOOK_USER and PIPEDRIVE_WEBHOOK_PASSWORD.",
                id="clicktoagent.W104",
            )
        )
    messages.extend(_check_callback_hosts(callback_hosts))
    return messages


def _check_callback_hosts(hosts: Any) -> list[CheckMessage]:
    from .outbound import allowed_host_entry_problem

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


def _check_salesforce_organizations(orgs: Any) -> list[CheckMessage]:
    from .salesforce import salesforce_id15

    invalid = [
        str(o).strip() for o in orgs if str(o).strip() and not salesforce_id15(str(o).strip())
    ]
    if not invalid:
        return []
    return [
        Error(
            "CLICKTOAGENT['SALESFORCE_ORGANIZATION_IDS'] holds "
            f"{', '.join(repr(o) for o in invalid)}, not a Salesforce organization id: it "
            "would never match, and messages from that organization are refused.",
            hint="Copy the id from Salesforce (Setup > Company Information): 15 characters, "
            "or 18 with the 3-character checksum Salesforce appends.",
            id="clicktoagent.E103",
        )
    ]


# Shorter tokens could be guessed; secrets.token_urlsafe(32) gives 43 characters.
MIN_TOKEN_LENGTH = 24


def _check_salesforce_token(value: Any, unset: str) -> list[CheckMessage]:
    from .salesforce import webhook_tokens

    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(t, str) for t in items):
        return [
            Error(
                "CLICKTOAGENT['SALESFORCE_WEBHOOK_TOKEN'] must be a string or a list of "
                "strings (several while rotating).",
                id="clicktoagent.E104",
            )
        ]
    tokens = webhook_tokens()
    if not tokens:
        return [
            Warning(
                unset.format("Salesforce", "CLICKTOAGENT['SALESFORCE_WEBHOOK_TOKEN']"),
                hint='Generate a token (python -c "import secrets; '
                'print(secrets.token_urlsafe(32))"), set SALESFORCE_WEBHOOK_TOKEN to it and '
                "add ?token=<it> to the endpoint URL of the outbound message.",
                id="clicktoagent.W105",
            )
        ]
    if any(len(token) < MIN_TOKEN_LENGTH for token in tokens):
        return [
            Warning(
                "A CLICKTOAGENT['SALESFORCE_WEBHOOK_TOKEN'] token is shorter than "
                f"{MIN_TOKEN_LENGTH} characters and could be guessed.",
                hint='Generate one with python -c "import secrets; '
                'print(secrets.token_urlsafe(32))".',
                id="clicktoagent.W106",
            )
        ]
    return []
