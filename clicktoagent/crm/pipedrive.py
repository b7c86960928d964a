"""Pipedrive: a call log on the person (and its deal), organization or deal.

``POST /api/v1/callLogs`` with the ``x-api-token`` header. A call log is what Pipedrive
keeps for calls made through a telephony integration: it shows on the record's timeline
as a call with its outcome, number, times and note, where an activity of type ``call``
would be a to-do with a done flag and no number or outcome.

Pipedrive offers no way to find a call log by a value of ours, so after a lost answer
the write-back is ``unknown`` (never created twice); an operator checks the timeline.
"""

from __future__ import annotations

from typing import Any

from django.utils.html import escape
from django.views.decorators.debug import sensitive_variables

from ..dialogtech.redact import Secret
from .client import (
    CallActivity,
    CrmMaybeWrittenError,
    CrmNotWrittenError,
    RequestsCrmClient,
    TransportError,
)

# Our status -> callLogs outcome. Pipedrive's outcomes (connected, no_answer,
# left_message, left_voicemail, wrong_number, busy) have none for "not placed" or
# "may have been placed": both are no_answer, and the subject and note say which.
OUTCOME = {"placed": "connected", "failed": "no_answer", "unknown": "no_answer"}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # UTC, as Pipedrive reads it


class PipedriveClient(RequestsCrmClient):
    name = "Pipedrive"
    can_look_up = False

    settings_keys = {"base_url": "PIPEDRIVE_API_BASE_URL", "api_token": "PIPEDRIVE_API_TOKEN"}
    credentials = ("api_token",)

    @sensitive_variables("api_token")
    def __init__(self, *, base_url: str, api_token: str, timeout: float) -> None:
        super().__init__(base_url=base_url, timeout=timeout, secrets=[api_token])
        self._token = Secret(api_token)

    def create(self, activity: CallActivity) -> str:
        what = "creating the call log"
        try:
            answer = self.request(
                "POST",
                "/api/v1/callLogs",
                headers={"x-api-token": self._token, "Accept": "application/json"},
                json_body=call_log(activity),
            )
        except TransportError as err:
            if err.sent:
                raise CrmMaybeWrittenError(f"{err}; the call log may have been created.") from None
            raise CrmNotWrittenError(f"{err} {what}.") from None
        self.check_status(status=answer.status, body=answer.body, headers=answer.headers, what=what)
        data = answer.json()
        created = data.get("data") if isinstance(data, dict) else None
        return str(created.get("id", "")) if isinstance(created, dict) else ""


def call_log(activity: CallActivity) -> dict[str, Any]:
    """The call log's fields (docs/crm.md lists them)."""
    record = activity.record
    log: dict[str, Any] = {
        "outcome": OUTCOME.get(activity.status, "no_answer"),
        "to_phone_number": activity.phone_to_call,
        "start_time": activity.started_at.strftime(TIME_FORMAT),
        "end_time": activity.finished_at.strftime(TIME_FORMAT),
        "subject": activity.title,
        "note": "<br>".join(str(escape(line)) for line in activity.description_lines()),
    }
    field = {"person": "person_id", "organization": "org_id", "deal": "deal_id"}[record.object_type]
    log[field] = int(record.object_id)
    if record.deal_id:
        log["deal_id"] = int(record.deal_id)
    if activity.owner_id.isdigit():
        log["user_id"] = int(activity.owner_id)
    return log
