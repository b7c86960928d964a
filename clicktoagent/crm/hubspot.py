"""HubSpot: a call engagement on the record, through HubSpot's official client.

``POST /crm/v3/objects/calls`` with the call's properties and an association to the
record (HUBSPOT_DEFINED call -> contact, company, deal or ticket), authenticated with a
private app access token (Bearer). ``hs_call_external_id`` holds the lookup key (the sid
when there is one), so after a lost answer ``POST /crm/v3/objects/calls/search`` tells
whether the call was already logged.

hubspot-api-client talks urllib3 directly: its ``host`` is the configured base URL, its
``retry`` turns off urllib3's own retries and redirects (a redirect is answered as an
error, never followed), and urllib3 reads no proxy variables from the environment.
"""

from __future__ import annotations

from typing import Any

import urllib3
from django.views.decorators.debug import sensitive_variables

from ..dialogtech.redact import Secret
from .client import (
    CallActivity,
    CrmClient,
    CrmMaybeWrittenError,
    CrmNotWrittenError,
    CrmRefusedError,
    cause_name,
    host_of,
    never_sent,
)
from .refs import HUBSPOT_ASSOCIATION_TYPES

# Our status -> hs_call_status. "unknown" sets none: HubSpot has no status for "may
# have been placed", and the title says it.
CALL_STATUS = {"placed": "COMPLETED", "failed": "FAILED", "blocked": "CANCELED"}
LOOKUP_PROPERTY = "hs_call_external_id"


def _library_missing() -> CrmRefusedError:
    return CrmRefusedError(
        "HubSpot write-back needs hubspot-api-client: pip install 'django-clicktoagent[hubspot]'."
    )


class HubSpotClient(CrmClient):
    name = "HubSpot"
    can_look_up = True

    settings_keys = {
        "base_url": "HUBSPOT_API_BASE_URL",
        "access_token": "HUBSPOT_ACCESS_TOKEN",
    }
    credentials = ("access_token",)

    @sensitive_variables("access_token")
    def __init__(self, *, base_url: str, access_token: str, timeout: float) -> None:
        super().__init__(timeout=timeout, secrets=[access_token])
        try:
            from hubspot import HubSpot
        except ImportError:
            raise _library_missing() from None
        if not base_url.startswith(("http://", "https://")) or "@" in base_url:
            raise CrmRefusedError(
                "HUBSPOT_API_BASE_URL must be an http(s) URL without user or password."
            )
        self.host = host_of(base_url)
        self._api = HubSpot(
            access_token=Secret(access_token),
            host=base_url.rstrip("/"),
            # No retries and no redirects below us: the service decides what is retried.
            retry=urllib3.Retry(total=0, redirect=0, raise_on_redirect=False),
        )

    def create(self, activity: CallActivity) -> str:
        from hubspot.crm.objects.calls import (
            AssociationSpec,
            PublicAssociationsForObject,
            PublicObjectId,
            SimplePublicObjectInputForCreate,
        )

        record = activity.record
        association = PublicAssociationsForObject(
            to=PublicObjectId(id=record.object_id),
            types=[
                AssociationSpec(
                    association_category="HUBSPOT_DEFINED",
                    association_type_id=HUBSPOT_ASSOCIATION_TYPES[record.object_type],
                )
            ],
        )
        body = SimplePublicObjectInputForCreate(
            properties=call_properties(activity), associations=[association]
        )
        created = self._call(
            "creating the call",
            lambda: self._api.crm.objects.calls.basic_api.create(
                simple_public_object_input_for_create=body, _request_timeout=self.timeout
            ),
            creates=True,
        )
        return str(created.id)

    def find(self, activity: CallActivity) -> str | None:
        from hubspot.crm.objects.calls import Filter, FilterGroup, PublicObjectSearchRequest

        search = PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(
                    filters=[
                        Filter(
                            property_name=LOOKUP_PROPERTY,
                            operator="EQ",
                            value=activity.lookup_key,
                        )
                    ]
                )
            ],
            properties=[LOOKUP_PROPERTY],
            limit=1,
        )
        found = self._call(
            "looking the call up",
            lambda: self._api.crm.objects.calls.search_api.do_search(
                public_object_search_request=search, _request_timeout=self.timeout
            ),
            creates=False,
        )
        results = list(found.results or [])
        return str(results[0].id) if results else None

    def _call(self, what: str, send: Any, *, creates: bool) -> Any:
        from hubspot.crm.objects.calls.exceptions import ApiException

        try:
            return send()
        except ApiException as err:
            if not err.status:  # a TLS failure, which the library wraps without a status
                raise self._transport_error(err, what, creates=creates) from None
            headers = {str(k): str(v) for k, v in dict(err.headers or {}).items()}
            self.check_status(
                status=int(err.status), body=err.body or b"", headers=headers, what=what
            )
            raise CrmRefusedError(f"HubSpot answered HTTP {err.status} {what}.") from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise self._transport_error(err, what, creates=creates) from None

    def _transport_error(
        self, err: BaseException, what: str, *, creates: bool
    ) -> CrmNotWrittenError | CrmMaybeWrittenError:
        cause = cause_name(err)
        if never_sent(err):
            return CrmNotWrittenError(
                f"Could not connect to HubSpot at {self.host} {what} ({cause}); nothing was sent."
            )
        if creates:
            return CrmMaybeWrittenError(
                f"HubSpot at {self.host} gave no answer {what} ({cause}); the call may have "
                "been logged."
            )
        return CrmNotWrittenError(f"HubSpot at {self.host} gave no answer {what} ({cause}).")


def call_properties(activity: CallActivity) -> dict[str, str]:
    """The call engagement's properties (docs/crm.md lists them)."""
    properties = {
        "hs_timestamp": activity.finished_at.isoformat().replace("+00:00", "Z"),
        "hs_call_direction": "OUTBOUND",
        "hs_call_to_number": activity.phone_to_call,
        "hs_call_title": activity.title,
        "hs_call_body": "<br>".join(_escape(line) for line in activity.description_lines()),
        LOOKUP_PROPERTY: activity.lookup_key,
    }
    status = CALL_STATUS.get(activity.status)
    if status:
        properties["hs_call_status"] = status
    if activity.owner_id:
        properties["hubspot_owner_id"] = activity.owner_id
    return properties


def _escape(text: str) -> str:
    from django.utils.html import escape

    return str(escape(text))
