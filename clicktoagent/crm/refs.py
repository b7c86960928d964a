"""The ``contact_ref`` contract: ``<provider>:<object>:<id>`` names a record in a CRM.

- ``hubspot:contact:501`` (also ``company``, ``deal``, ``ticket``);
- ``salesforce:Lead:00Q5g00000AbCdEAAZ`` (``Contact`` too, or any other object, such as
  ``Account`` or ``Opportunity``, which a Task names as ``WhatId``);
- ``pipedrive:person:7`` (also ``organization``, ``deal``), optionally followed by
  ``:deal:<id>`` to log the call on a person's deal as well:
  ``pipedrive:person:7:deal:12``.

A ref of another form (``crm:lead:42``, a free string) names no CRM record and is
never written back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..models import CrmProvider


class ContactRefError(ValueError):
    """A ref that names a provider but cannot name one of its records; says why."""


@dataclass(frozen=True)
class CrmRecord:
    """The record a finished call is logged on."""

    provider: str
    object_type: str
    object_id: str
    deal_id: str = ""  # Pipedrive only: the person's deal the call was about

    @property
    def ref(self) -> str:
        ref = f"{self.provider}:{self.object_type}:{self.object_id}"
        return f"{ref}:deal:{self.deal_id}" if self.deal_id else ref


# HubSpot object -> the HUBSPOT_DEFINED association type id of call -> that object.
HUBSPOT_ASSOCIATION_TYPES = {"contact": 194, "company": 182, "deal": 206, "ticket": 220}
PIPEDRIVE_OBJECTS = ("person", "organization", "deal")
# Salesforce objects a Task names as WhoId; any other object is its WhatId.
SALESFORCE_WHO_OBJECTS = ("Lead", "Contact")

_NUMERIC_ID = re.compile(r"^[1-9][0-9]{0,17}$")
_SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_SALESFORCE_OBJECT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")


def crm_provider_of(contact_ref: str) -> str | None:
    """The CRM ``contact_ref`` names (its first part), or None for any other ref."""
    provider = (contact_ref or "").partition(":")[0].strip().lower()
    return provider if provider in CrmProvider.values else None


def parse_contact_ref(contact_ref: str) -> CrmRecord | None:
    """The CRM record ``contact_ref`` names; None when it names no CRM provider.

    Raises :class:`ContactRefError` when it starts with a provider but is not one of
    that provider's documented forms.
    """
    provider = crm_provider_of(contact_ref)
    if provider is None:
        return None
    parts = contact_ref.strip().split(":")
    if provider == CrmProvider.HUBSPOT:
        return _hubspot(parts)
    if provider == CrmProvider.SALESFORCE:
        return _salesforce(parts)
    return _pipedrive(parts)


def _hubspot(parts: list[str]) -> CrmRecord:
    objects = ", ".join(HUBSPOT_ASSOCIATION_TYPES)
    if len(parts) != 3 or parts[1].lower() not in HUBSPOT_ASSOCIATION_TYPES:
        raise ContactRefError(
            f"A HubSpot contact_ref is hubspot:<object>:<id> with object one of {objects} "
            "(e.g. hubspot:contact:501)."
        )
    if not _NUMERIC_ID.match(parts[2]):
        raise ContactRefError(f"HubSpot record ids are numbers, got {parts[2]!r}.")
    return CrmRecord(CrmProvider.HUBSPOT, parts[1].lower(), parts[2])


def _salesforce(parts: list[str]) -> CrmRecord:
    if len(parts) != 3 or not _SALESFORCE_OBJECT.match(parts[1]):
        raise ContactRefError(
            "A Salesforce contact_ref is salesforce:<object>:<id> "
            "(e.g. salesforce:Lead:00Q5g00000AbCdEAAZ)."
        )
    if not _SALESFORCE_ID.match(parts[2]):
        raise ContactRefError(
            f"Salesforce record ids have 15 or 18 letters and digits, got {parts[2]!r}."
        )
    object_type = next(
        (name for name in SALESFORCE_WHO_OBJECTS if name.lower() == parts[1].lower()), parts[1]
    )
    return CrmRecord(CrmProvider.SALESFORCE, object_type, parts[2])


def _pipedrive(parts: list[str]) -> CrmRecord:
    usage = (
        "A Pipedrive contact_ref is pipedrive:<person|organization|deal>:<id>, or "
        "pipedrive:person:<id>:deal:<id> (e.g. pipedrive:person:7)."
    )
    if len(parts) not in (3, 5) or parts[1].lower() not in PIPEDRIVE_OBJECTS:
        raise ContactRefError(usage)
    deal_id = ""
    if len(parts) == 5:
        if parts[1].lower() != "person" or parts[3].lower() != "deal":
            raise ContactRefError(usage)
        deal_id = parts[4]
    for value in filter(None, (parts[2], deal_id)):
        if not _NUMERIC_ID.match(value):
            raise ContactRefError(f"Pipedrive ids are numbers, got {value!r}.")
    return CrmRecord(CrmProvider.PIPEDRIVE, parts[1].lower(), parts[2], deal_id=deal_id)
