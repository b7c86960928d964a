"""Salesforce: a completed call Task on the Lead or Contact (or the WhatId of any other
record), through the REST API with an OAuth 2.0 client credentials token.

- ``POST {instance}/services/oauth2/token`` (``grant_type=client_credentials``,
  ``client_id``, ``client_secret``) gives an access token, cached per process until
  Salesforce refuses it (401): then a new one is fetched, once.
- ``POST {instance}/services/data/vXX.X/sobjects/Task/`` creates the Task, with
  ``CallObject`` = the lookup key (the sid when there is one);
- ``GET {instance}/services/data/vXX.X/query/?q=SELECT Id FROM Task WHERE CallObject =
  '...'`` finds it again after a lost answer.

simple-salesforce is not used: its client credentials login and every API call are
built as ``https://{domain}.salesforce.com`` / ``https://{instance}``, so it cannot be
pointed at a local stand-in, and it would add zeep and PyJWT for two requests.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from django.views.decorators.debug import sensitive_variables

from ..dialogtech.redact import Secret
from .client import (
    Answer,
    CallActivity,
    CrmMaybeWrittenError,
    CrmNotWrittenError,
    CrmRefusedError,
    CrmUnauthorizedError,
    RequestsCrmClient,
    TransportError,
)
from .refs import SALESFORCE_WHO_OBJECTS

# Access tokens by (instance URL, client id, hash of the secret): one per process.
_tokens: dict[tuple[str, str, str], Secret] = {}
_tokens_lock = threading.Lock()


def forget_tokens() -> None:
    """Drop every cached access token (tests, or after rotating the client secret)."""
    with _tokens_lock:
        _tokens.clear()


class SalesforceClient(RequestsCrmClient):
    name = "Salesforce"
    can_look_up = True

    settings_keys = {
        "instance_url": "SALESFORCE_INSTANCE_URL",
        "client_id": "SALESFORCE_CLIENT_ID",
        "client_secret": "SALESFORCE_CLIENT_SECRET",
        "api_version": "SALESFORCE_API_VERSION",
    }
    credentials = ("instance_url", "client_id", "client_secret")

    @sensitive_variables("client_secret")
    def __init__(
        self,
        *,
        instance_url: str,
        client_id: str,
        client_secret: str,
        api_version: str,
        timeout: float,
    ) -> None:
        super().__init__(base_url=instance_url, timeout=timeout, secrets=[client_secret])
        self._client_id = client_id
        self._client_secret = Secret(client_secret)
        version = str(api_version).strip().lstrip("vV")
        self.data_path = f"/services/data/v{version}"
        digest = hashlib.sha256(client_secret.encode()).hexdigest()
        self._token_key = (self.base_url, client_id, digest)

    def create(self, activity: CallActivity) -> str:
        answer = self._api(
            "POST",
            f"{self.data_path}/sobjects/Task/",
            what="creating the Task",
            json_body=task_fields(activity),
            creates=True,
        )
        data = answer.json()
        record_id = data.get("id") if isinstance(data, dict) else None
        if not record_id:
            # Created, by the status, but without an id we cannot show: still written.
            return ""
        return str(record_id)

    def find(self, activity: CallActivity) -> str | None:
        # A SOQL string literal: backslashes and quotes escaped, as SOQL defines them.
        key = activity.lookup_key.replace("\\", "\\\\").replace("'", "\\'")
        query = f"SELECT Id FROM Task WHERE CallObject = '{key}' LIMIT 1"  # noqa: S608
        answer = self._api(
            "GET",
            f"{self.data_path}/query/",
            what="looking the Task up",
            params={"q": query},
            creates=False,
        )
        data = answer.json()
        records = data.get("records") if isinstance(data, dict) else None
        if not isinstance(records, list) or not records:
            return None
        first = records[0]
        return str(first.get("Id", "")) if isinstance(first, dict) else None

    # -- plumbing -------------------------------------------------------------------

    def _api(self, method: str, path: str, *, what: str, creates: bool, **kwargs: Any) -> Answer:
        """One API request with the cached token; on a 401, a new token and one more try."""
        for fresh in (False, True):
            token = self._token(fresh=fresh)
            try:
                answer = self.request(
                    method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
                )
            except TransportError as err:
                if creates and err.sent:
                    raise CrmMaybeWrittenError(f"{err}; the Task may have been created.") from None
                raise CrmNotWrittenError(f"{err} {what}.") from None
            try:
                self.check_status(
                    status=answer.status, body=answer.body, headers=answer.headers, what=what
                )
            except CrmUnauthorizedError:
                self._drop_token(token)
                if fresh:
                    raise
                continue
            return answer
        raise AssertionError("unreachable")

    def _token(self, *, fresh: bool) -> Secret:
        with _tokens_lock:
            cached = None if fresh else _tokens.get(self._token_key)
        if cached:
            return cached
        token = self._fetch_token()
        with _tokens_lock:
            _tokens[self._token_key] = token
        return token

    def _drop_token(self, token: str) -> None:
        with _tokens_lock:
            if _tokens.get(self._token_key) == token:
                del _tokens[self._token_key]

    @sensitive_variables("form")
    def _fetch_token(self) -> Secret:
        what = "fetching an access token"
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        try:
            answer = self.request("POST", "/services/oauth2/token", form=form)
        except TransportError as err:
            raise CrmNotWrittenError(f"{err} {what}.") from None
        try:
            self.check_status(
                status=answer.status, body=answer.body, headers=answer.headers, what=what
            )
        except CrmRefusedError as err:
            raise CrmRefusedError(
                f"{err} Check SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET, and that the "
                "connected app allows the client credentials flow with a run-as user."
            ) from None
        data = answer.json()
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise CrmNotWrittenError(f"Salesforce answered no access_token {what}.")
        return Secret(token)


def task_fields(activity: CallActivity) -> dict[str, str]:
    """The Task's fields (docs/crm.md lists them)."""
    record = activity.record
    who = record.object_type in SALESFORCE_WHO_OBJECTS
    fields = {
        "Subject": activity.title[:255],
        "Description": activity.description[:32000],
        "TaskSubtype": "Call",
        "CallType": "Outbound",
        "CallObject": activity.lookup_key,
        "CallDisposition": activity.disposition[:255],
        "Status": "Completed",
        "ActivityDate": activity.finished_at.date().isoformat(),
        "WhoId" if who else "WhatId": record.object_id,
    }
    if activity.owner_id:
        fields["OwnerId"] = activity.owner_id
    return fields
