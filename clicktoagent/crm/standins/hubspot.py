"""The HubSpot stand-in: calls created and searched through the CRM objects API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .base import (
    Reply,
    TokenStandIn,
    _bearer,
    _json_object,
    _known,
    _Refused,
)

HUBSPOT_CALL_STATUSES = (
    "BUSY",
    "CALLING_CRM_USER",
    "CANCELED",
    "COMPLETED",
    "CONNECTING",
    "FAILED",
    "IN_PROGRESS",
    "MISSED",
    "NO_ANSWER",
    "QUEUED",
    "RINGING",
)
HUBSPOT_CALL_ASSOCIATIONS = {194: "contact", 182: "company", 206: "deal", 220: "ticket"}


class HubSpotStandIn(TokenStandIn):
    """HubSpot's CRM objects API for calls. ``known``: ids per object type that exist
    (``{"contact": {"501"}}``); None accepts any id."""

    name = "HubSpot"

    id_base = 9000000

    def operation(self, method: str, path: str) -> str | None:
        if method == "POST" and path == "/crm/v3/objects/calls":
            return "create"
        if method == "POST" and path == "/crm/v3/objects/calls/search":
            return "lookup"
        return None

    def authorized(self, headers: Any, operation: str) -> bool:
        return self._is_token(_bearer(headers))

    def unauthorized(self) -> Reply:
        return Reply(
            401,
            {
                "status": "error",
                "message": "Authentication credentials not found.",
                "category": "INVALID_AUTHENTICATION",
            },
        )

    def bad_request(self, message: str) -> Reply:
        return Reply(400, {"status": "error", "message": message, "category": "VALIDATION_ERROR"})

    def handle(
        self, operation: str, path: str, query: dict[str, list[str]], body: bytes, headers: Any
    ) -> Reply:
        data = _json_object(body)
        if operation == "lookup":
            return self._search(data)
        properties = data.get("properties")
        if not isinstance(properties, dict) or not properties.get("hs_timestamp"):
            raise _Refused("Property values were not valid: hs_timestamp is required.")
        if properties.get("hs_call_direction") not in (None, "INBOUND", "OUTBOUND"):
            raise _Refused("Property values were not valid: hs_call_direction.")
        status = properties.get("hs_call_status")
        if status is not None and status not in HUBSPOT_CALL_STATUSES:
            raise _Refused(f"Property values were not valid: hs_call_status {status!r}.")
        on = []
        for association in data.get("associations") or []:
            to = association.get("to") if isinstance(association, dict) else None
            types = association.get("types") if isinstance(association, dict) else None
            if not isinstance(to, dict) or not to.get("id") or not isinstance(types, list):
                raise _Refused("Each association needs to.id and types.")
            for kind in types:
                if not isinstance(kind, dict) or kind.get("associationCategory") != (
                    "HUBSPOT_DEFINED"
                ):
                    raise _Refused("associationCategory must be HUBSPOT_DEFINED.")
                object_type = HUBSPOT_CALL_ASSOCIATIONS.get(kind.get("associationTypeId", 0))
                if object_type is None:
                    raise _Refused(
                        f"associationTypeId {kind.get('associationTypeId')!r} is not a call "
                        "association."
                    )
                if not _known(self.known, object_type, str(to["id"])):
                    raise _Refused(f"No {object_type} with id {to['id']} exists.")
                on.append((object_type, str(to["id"])))
        call_id = str(self._new_id())
        now = datetime.now(tz=UTC).isoformat().replace("+00:00", "Z")
        record = self._store(
            {
                "id": call_id,
                "properties": {str(k): str(v) for k, v in properties.items()},
                "associations": data.get("associations") or [],
            },
            on,
        )
        return Reply(201, _hubspot_object(record, now))

    def _search(self, data: dict[str, Any]) -> Reply:
        try:
            (group,) = data["filterGroups"]
            (condition,) = group["filters"]
            name, operator, value = (
                condition["propertyName"],
                condition["operator"],
                condition["value"],
            )
        except (KeyError, TypeError, ValueError):
            raise _Refused("The stand-in searches one EQ filter in one filter group.") from None
        if operator != "EQ":
            raise _Refused("The stand-in searches with operator EQ only.")
        with self._lock:
            found = [r for r in self.records if r["properties"].get(name) == value]
        now = datetime.now(tz=UTC).isoformat().replace("+00:00", "Z")
        return Reply(
            200, {"total": len(found), "results": [_hubspot_object(r, now) for r in found[:1]]}
        )

    def title_of(self, record: dict[str, Any]) -> str:
        return str(record["properties"].get("hs_call_title", record["id"]))


def _hubspot_object(record: dict[str, Any], now: str) -> dict[str, Any]:
    return {
        "id": record["id"],
        "properties": record["properties"],
        "createdAt": now,
        "updatedAt": now,
        "archived": False,
    }
