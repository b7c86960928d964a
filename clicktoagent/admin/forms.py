"""Forms of the admin pages: the call options page and the dashboard period."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any

from django import forms
from django.core import signing
from django.utils import timezone

from ..conf import app_settings
from ..models import Agent, CallAttempt, Queue

TOKEN_SALT = "clicktoagent.admin.call-form"  # noqa: S105  (a signing salt, not a secret)
# A call form may be submitted (or re-submitted) for this long after it was shown.
TOKEN_MAX_AGE = 24 * 60 * 60
MAX_DASHBOARD_DAYS = 366
# Wide, but far enough from date.min/date.max that day bounds in any time zone exist.
DASHBOARD_FIRST_DATE = date(1970, 1, 1)
DASHBOARD_LAST_DATE = date(9998, 12, 31)

# Service error keys -> form field names.
SERVICE_FIELDS = {"queue_id": "queue", "agent_id": "agent"}


def call_form_token(*, user_pk: object) -> str:
    """A signed one-time token for one rendering of the call form, bound to the user."""
    return signing.dumps(secrets.token_urlsafe(16), salt=f"{TOKEN_SALT}:{user_pk}")


def _callerid_field(label: str) -> forms.CharField:
    return forms.CharField(
        required=False,
        max_length=40,
        label=label,
        help_text="Optional: a registered or tracking number, or one of the two numbers dialled.",
    )


class CallOptionsForm(forms.Form):
    """Queue, agent and call options for calling one or more contacts."""

    queue = forms.ModelChoiceField(
        queryset=Queue.objects.filter(is_active=True), to_field_name="queue_id"
    )
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.filter(is_active=True),
        to_field_name="agent_id",
        help_text="Rung first; must be a member of the queue.",
    )
    record = forms.TypedChoiceField(choices=CallAttempt.Record.choices, coerce=int)
    warning = forms.TypedChoiceField(
        choices=CallAttempt.Warning.choices, coerce=int, label="Recording warning"
    )
    first_callerid = _callerid_field("Caller ID shown to the agent")
    second_callerid = _callerid_field("Caller ID shown to the contact")
    outside_hours = forms.ChoiceField(
        choices=CallAttempt.OutsideHours.choices,
        label="Outside calling hours",
        help_text="When calling hours, queue hours or the daily cap forbid a call now.",
    )
    override_reason = forms.CharField(
        required=False,
        max_length=500,
        label="Override the time rules, because",
        help_text="Calls now despite calling hours, queue hours and the daily cap; "
        "recorded with your name. The do-not-call list is never overridden.",
    )
    ids = forms.CharField(widget=forms.HiddenInput)
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(
        self, *args: Any, user_pk: object, may_override: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.user_pk = user_pk
        self.fields["record"].initial = app_settings.DEFAULT_RECORD
        self.fields["warning"].initial = app_settings.DEFAULT_WARNING
        self.fields["outside_hours"].initial = app_settings.OUTSIDE_HOURS
        if not app_settings.SAFE_CALLING_RULES:
            del self.fields["outside_hours"]
        if not (may_override and app_settings.SAFE_CALLING_RULES):
            del self.fields["override_reason"]

    def clean_token(self) -> str:
        """The nonce inside the token: it names this submission in idempotency keys."""
        try:
            nonce: str = signing.loads(
                self.cleaned_data["token"],
                salt=f"{TOKEN_SALT}:{self.user_pk}",
                max_age=TOKEN_MAX_AGE,
            )
        except signing.SignatureExpired:
            raise forms.ValidationError(
                "This call form is more than a day old: open it again from the contact list."
            ) from None
        except signing.BadSignature:
            raise forms.ValidationError(
                "This call form was not issued to you: open it again from the contact list."
            ) from None
        return nonce

    def add_service_errors(self, message_dict: dict[str, list[str]]) -> None:
        for key, messages in message_dict.items():
            name = SERVICE_FIELDS.get(key, key)
            for message in messages:
                self.add_error(name if name in self.fields else None, message)


class DashboardPeriodForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    @staticmethod
    def default_period() -> tuple[date, date]:
        end = timezone.localdate()
        return end - timedelta(days=13), end

    def _clean_in_range(self, name: str) -> date:
        value: date = self.cleaned_data[name]
        if not DASHBOARD_FIRST_DATE <= value <= DASHBOARD_LAST_DATE:
            raise forms.ValidationError(
                f"Choose a date between {DASHBOARD_FIRST_DATE.isoformat()} and "
                f"{DASHBOARD_LAST_DATE.isoformat()}."
            )
        return value

    def clean_start(self) -> date:
        return self._clean_in_range("start")

    def clean_end(self) -> date:
        return self._clean_in_range("end")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError("The end date is before the start date.")
            if (end - start).days + 1 > MAX_DASHBOARD_DAYS:
                raise forms.ValidationError(
                    f"Choose a period of at most {MAX_DASHBOARD_DAYS} days."
                )
        return cleaned
