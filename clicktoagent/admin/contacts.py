"""``ClickToAgentAdminMixin``: click-to-call for a host project's own contact admin.

    @admin.register(Contact)
    class ContactAdmin(ClickToAgentAdminMixin, admin.ModelAdmin):
        clicktoagent_phone_field = "phone"

adds the "Call selected with DialogTech" action, a "Call" button and the call history on
the change page, for users with the ``clicktoagent.place_call`` permission.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.cache import add_never_cache_headers, patch_cache_control

from .. import directory
from ..calls import selectors
from ..calls.checks import contact_call_checks
from ..calls.contacts import contact_phone_check, contacts_call
from ..calls.display import OutcomeSummary, attempt_reason
from ..models import OVERRIDE_GUARDRAILS_PERMISSION, PLACE_CALL_PERMISSION, CallAttempt
from .forms import CallOptionsForm, call_form_token
from .pages import ClickToAgentPages

ACTION_NAME = "call_with_dialogtech"
HISTORY_LIMIT = 20


class ClickToAgentAdminMixin(ClickToAgentPages):
    """Adds DialogTech click-to-call to a ``ModelAdmin`` of any contact model."""

    #: Name of the model field holding the contact's phone number (required).
    clicktoagent_phone_field: str = ""
    #: Most contacts one submission may call (each call is placed in turn).
    clicktoagent_max_contacts: int = 100
    change_form_template = "admin/clicktoagent/contact/change_form.html"

    # -- hooks a host may override ------------------------------------------------

    def get_clicktoagent_phone(self, obj: Model) -> str:
        """The number to call for ``obj``; reads ``clicktoagent_phone_field``."""
        if not self.clicktoagent_phone_field:
            raise ImproperlyConfigured(
                f"{type(self).__name__} uses ClickToAgentAdminMixin: set "
                "clicktoagent_phone_field to the name of the contact's phone field."
            )
        return str(getattr(obj, self.clicktoagent_phone_field) or "")

    def has_place_call_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PLACE_CALL_PERMISSION)

    # -- action, URLs and change page ---------------------------------------------

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # Django 6.1 asks per location (change list, change form); 5.2 has no locations.
        where: tuple[Any, ...] = () if action_location is None else (action_location,)
        actions: dict[str, Any] = super().get_actions(request, *where)
        if (
            self.actions is not None
            and IS_POPUP_VAR not in request.GET
            and self.has_place_call_permission(request)
            and ACTION_NAME not in actions
        ):
            action = self.get_action(ACTION_NAME, *where)
            # None where the action is not offered (on Django 6.1: the change form).
            if action is not None:
                actions[ACTION_NAME] = action
        return actions

    @admin.action(description="Call selected with DialogTech")
    def call_with_dialogtech(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse:
        self._check_call_permission(request)
        ids = [str(pk) for pk in queryset.values_list("pk", flat=True)]
        # A GET page, so that the back button brings back the same form (and its token).
        return HttpResponseRedirect(self.clicktoagent_call_url(ids))

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        urls = [
            path(
                "clicktoagent-call/",
                # Cacheable: see clicktoagent_call_view for the headers it sets.
                self.admin_site.admin_view(self.clicktoagent_call_view, cacheable=True),
                name="{}_{}_clicktoagent_call".format(*info),
            )
        ]
        return urls + super().get_urls()

    def clicktoagent_call_url(self, ids: list[str]) -> str:
        info = self.opts.app_label, self.opts.model_name
        url = reverse(
            "admin:{}_{}_clicktoagent_call".format(*info), current_app=self.admin_site.name
        )
        return f"{url}?ids={','.join(ids)}"

    def change_form_context(self, request: HttpRequest, obj: Model | None) -> dict[str, Any]:
        if obj is None or obj.pk is None or not self.has_place_call_permission(request):
            return {}
        # Only the attempts this user may see: their own with place_call alone.
        history = selectors.call_attempt_visible_to(
            user=request.user,
            attempts=selectors.call_attempt_list_for_contact(contact=obj),
        )
        return {
            "clicktoagent_call_url": self.clicktoagent_call_url([str(obj.pk)]),
            "clicktoagent_history": list(history[:HISTORY_LIMIT]),
            "clicktoagent_history_limit": HISTORY_LIMIT,
        }

    # -- the call page ------------------------------------------------------------

    def clicktoagent_call_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the options form for ``?ids=``; POST: place the calls, show the outcome.

        The form page may be kept in the browser's history cache (``private, no-cache``
        rather than ``no-store``): going back to it after submitting shows the same form
        with the same one-time token, so submitting it again dials nobody twice.
        """
        self._check_call_permission(request)
        data = request.POST if request.method == "POST" else request.GET
        ids = [pk for pk in data.get("ids", "").split(",") if pk.strip()]
        if request.method != "POST":
            response = self._call_form_page(request, ids=ids, form=None)
            patch_cache_control(response, private=True, no_cache=True)
            return response
        response = self._place_calls(request, ids)
        add_never_cache_headers(response)
        return response

    def _place_calls(self, request: HttpRequest, ids: list[str]) -> HttpResponse:
        form = CallOptionsForm(
            request.POST, user_pk=request.user.pk, may_override=self._may_override(request)
        )
        if not form.is_valid():
            return self._call_form_page(request, ids=ids, form=form)
        contacts = self._contacts(request, ids)
        try:
            outcomes = contacts_call(
                contacts=[(c, self.get_clicktoagent_phone(c)) for c in contacts],
                queue_id=form.cleaned_data["queue"].queue_id,
                agent_id=form.cleaned_data["agent"].agent_id,
                first_callerid=form.cleaned_data["first_callerid"],
                second_callerid=form.cleaned_data["second_callerid"],
                record=form.cleaned_data["record"],
                warning=form.cleaned_data["warning"],
                source=CallAttempt.Source.ADMIN,
                requested_by=request.user,  # type: ignore[arg-type]
                idempotency_prefix=f"admin:{form.cleaned_data['token']}",
                outside_hours=form.cleaned_data.get("outside_hours"),
                override_reason=form.cleaned_data.get("override_reason", ""),
            )
        except ValidationError as err:
            form.add_service_errors(err.message_dict)
            return self._call_form_page(request, ids=ids, form=form)
        for outcome in outcomes:
            if outcome.attempt is not None:
                # The call was placed (or queued) when the attempts were committed.
                outcome.attempt.refresh_from_db()
        attempts = [o.attempt for o in outcomes if o.attempt is not None]
        context = {
            **self.admin_site.each_context(request),
            "title": "Call outcome",
            "opts": self.opts,
            "rows": [
                {
                    "outcome": o,
                    "reason": attempt_reason(o.attempt) if o.attempt else o.skipped_reason,
                }
                for o in outcomes
            ],
            "skipped": [o for o in outcomes if o.attempt is None],
            "repeated": [o for o in outcomes if o.attempt is not None and not o.created],
            "summary": OutcomeSummary.of(attempts),
            "changelist_url": self._changelist_url(),
        }
        return TemplateResponse(request, "admin/clicktoagent/call_summary.html", context)

    def _may_override(self, request: HttpRequest) -> bool:
        return request.user.has_perm(OVERRIDE_GUARDRAILS_PERMISSION)

    def _check_call_permission(self, request: HttpRequest) -> None:
        if not (self.has_place_call_permission(request) and self.has_view_permission(request)):
            raise PermissionDenied

    def _changelist_url(self) -> str:
        info = self.opts.app_label, self.opts.model_name
        return reverse("admin:{}_{}_changelist".format(*info), current_app=self.admin_site.name)

    def _contacts(self, request: HttpRequest, ids: list[str]) -> list[Model]:
        try:
            return list(self.get_queryset(request).filter(pk__in=ids))
        except (ValueError, ValidationError):
            return []

    def _call_form_page(
        self, request: HttpRequest, *, ids: list[str], form: CallOptionsForm | None
    ) -> HttpResponse:
        contacts = self._contacts(request, ids)
        if not contacts:
            self.message_user(request, "No contacts to call were selected.", messages.WARNING)
            return HttpResponseRedirect(self._changelist_url())
        if len(contacts) > self.clicktoagent_max_contacts:
            self.message_user(
                request,
                f"{len(contacts)} contacts selected: call at most "
                f"{self.clicktoagent_max_contacts} at a time.",
                messages.ERROR,
            )
            return HttpResponseRedirect(self._changelist_url())
        if form is None:
            form = CallOptionsForm(
                initial=self._initial_options(request, contacts),
                user_pk=request.user.pk,
                may_override=self._may_override(request),
            )
        queue = form["queue"].value() or ""
        phones = [(contact, self.get_clicktoagent_phone(contact)) for contact in contacts]
        skip_reasons = [contact_phone_check(phone=phone) for _, phone in phones]
        # The safe-calling rules as they stand now, before anyone presses Call.
        checks = iter(
            contact_call_checks(
                contacts=[
                    call for call, skip in zip(phones, skip_reasons, strict=True) if not skip
                ],
                queue_id=str(queue),
            )
        )
        rows = [
            {
                "contact": contact,
                "phone": phone,
                "skip_reason": skip,
                "check": None if skip else next(checks),
            }
            for (contact, phone), skip in zip(phones, skip_reasons, strict=True)
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Call with DialogTech",
            "opts": self.opts,
            "form": form,
            "rows": rows,
            "callable_count": sum(1 for row in rows if not row["skip_reason"]),
            "form_url": reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_clicktoagent_call",
                current_app=self.admin_site.name,
            ),
            "changelist_url": self._changelist_url(),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/clicktoagent/call_form.html", context)

    def _initial_options(self, request: HttpRequest, contacts: list[Model]) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "ids": ",".join(str(c.pk) for c in contacts),
            "token": call_form_token(user_pk=request.user.pk),
        }
        agent = directory.agent_for_user(user=request.user)
        if agent is not None:
            initial["agent"] = agent.agent_id
            queue = directory.agent_first_queue(agent=agent)
            if queue is not None:
                initial["queue"] = queue.queue_id
        return initial
