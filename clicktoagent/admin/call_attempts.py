"""Admin of call attempts: read-only pages, retry and cancel (with confirmation pages),
and the dashboard."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from ..calls import selectors
from ..calls.display import OutcomeSummary, attempt_reason, status_badge
from ..calls.services import (
    RETRYABLE,
    call_attempt_can_retry,
    call_attempt_cancel,
    call_attempt_retry,
)
from ..crm.admin import CrmWritebackAdminMixin
from ..exceptions import InvalidTransitionError
from ..models import PLACE_CALL_PERMISSION, CallAttempt
from . import charts
from .forms import DashboardPeriodForm
from .links import admin_link
from .pages import ClickToAgentPages

Status = CallAttempt.Status


@admin.register(CallAttempt)
class CallAttemptAdmin(ClickToAgentPages, CrmWritebackAdminMixin, admin.ModelAdmin[CallAttempt]):
    list_display = [
        "created_at",
        "contact_display",
        "phone_to_call",
        "agent",
        "queue",
        "status_badge",
        "sid",
        "source",
    ]
    list_filter = ["status", "agent", "queue", "source", "created_at"]
    search_fields = ["phone_to_call", "sid", "contact_ref"]
    list_select_related = ["agent", "queue"]
    date_hierarchy = "created_at"
    actions = ["retry_attempts", "cancel_attempts"]
    fieldsets = [
        (
            "Call",
            {
                "fields": [
                    "queue",
                    "agent",
                    "phone_to_call",
                    "first_callerid",
                    "second_callerid",
                    "record",
                    "warning",
                ]
            },
        ),
        ("Contact", {"fields": ["contact_display", "contact_ref", "contact_region"]}),
        (
            "Safe calling",
            {
                "fields": [
                    "outside_hours",
                    "violation_list",
                    "adjustments",
                    "overridden_rules",
                    "override_reason",
                    "overridden_by",
                ]
            },
        ),
        (
            "Outcome",
            {
                "fields": [
                    "status_badge",
                    "sid",
                    "result",
                    "result_description",
                    "error",
                    "tries",
                    "next_try_at",
                    "dispatched_at",
                    "finished_at",
                ]
            },
        ),
        (
            "Request",
            {
                "fields": [
                    "source",
                    "requested_by",
                    "created_at",
                    "idempotency_key",
                    "retry_of",
                    "retry_list",
                ]
            },
        ),
    ]

    @admin.display(description="violations")
    def violation_list(self, obj: CallAttempt) -> SafeString | str:
        """Every safe-calling rule the call broke, with when it would be allowed."""
        if not obj.violations:
            return "—"
        return format_html_join(
            "",
            "<p><strong>{}</strong>: {}{}</p>",
            (
                (
                    v.get("rule", ""),
                    v.get("message", ""),
                    f" (allowed from {v['next_allowed_at']})" if v.get("next_allowed_at") else "",
                )
                for v in obj.violations
            ),
        )

    # Every field is read-only: attempts change only through the services.
    def get_readonly_fields(
        self, request: HttpRequest, obj: CallAttempt | None = None
    ) -> list[str]:
        return [str(name) for _, options in self.fieldsets for name in options["fields"]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Attempts are created through the services (actions, API, webhooks, command).
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_place_call_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PLACE_CALL_PERMISSION)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # place_call alone shows the list and pages of one's own attempts (get_queryset).
        if obj is not None:
            return selectors.call_attempt_visible_to(
                user=request.user, attempts=CallAttempt.objects.filter(pk=obj.pk)
            ).exists()
        return selectors.call_attempt_visible_to_all(
            user=request.user
        ) or self.has_place_call_permission(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[CallAttempt]:
        return selectors.call_attempt_visible_to(
            user=request.user,
            # select_related here: the change list adds list_select_related only to a
            # queryset that has none, and the write-back column already asks for some.
            attempts=super()
            .get_queryset(request)
            .select_related("agent", "queue")
            .prefetch_related("contact"),
        )

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # Lets a contact's page link to "all attempts of this contact".
        if lookup in ("content_type__id__exact", "object_id"):
            return True
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: CallAttempt) -> SafeString:
        return status_badge(obj.status)

    @admin.display(description="contact")
    def contact_display(self, obj: CallAttempt) -> SafeString | str:
        if obj.content_type_id and obj.object_id:
            contact = obj.contact
            if contact is not None:
                return admin_link(contact)
            return f"{obj.content_type} {obj.object_id} (deleted)"
        return obj.contact_ref or "—"

    @admin.display(description="retried as")
    def retry_list(self, obj: CallAttempt) -> SafeString | str:
        retries = list(obj.retries.order_by("created_at")) if obj.pk else []
        if not retries:
            return "—"
        return format_html_join(", ", "{}", ((admin_link(r),) for r in retries))

    # -- URLs: dashboard, per-attempt retry and cancel --------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        urls = [
            path(
                "dashboard/",
                wrap(self.dashboard_view),
                name="{}_{}_dashboard".format(*info),
            ),
            path(
                "<path:object_id>/retry/",
                wrap(self.retry_view),
                name="{}_{}_retry".format(*info),
            ),
            path(
                "<path:object_id>/cancel/",
                wrap(self.cancel_view),
                name="{}_{}_cancel".format(*info),
            ),
        ]
        return urls + super().get_urls()

    def change_form_context(self, request: HttpRequest, obj: CallAttempt | None) -> dict[str, Any]:
        if obj is None or not selectors.call_attempt_can_act(user=request.user, attempt=obj):
            return {}
        return {
            "can_retry": call_attempt_can_retry(obj),
            "can_cancel": obj.status == Status.PENDING,
        }

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        try:
            return super().get_changelist_instance(request)
        except (OverflowError, ValueError) as err:
            # A date hierarchy year such as 9999 (Django ticket #37357): a bad lookup, not a 500.
            raise IncorrectLookupParameters(err) from err

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "dashboard_url": reverse(
                "admin:clicktoagent_callattempt_dashboard", current_app=self.admin_site.name
            ),
        }
        return super().changelist_view(request, extra_context)

    # -- retry ---------------------------------------------------------------------

    @admin.action(
        description="Retry selected failed or unknown attempts", permissions=["place_call"]
    )
    def retry_attempts(
        self, request: HttpRequest, queryset: QuerySet[CallAttempt]
    ) -> HttpResponse | None:
        queryset = self._actionable(request, queryset, verb="retried")
        eligible = list(queryset.filter(status__in=RETRYABLE))
        ineligible = queryset.exclude(status__in=RETRYABLE).count()
        if not eligible:
            self.message_user(
                request,
                "Nothing retried: only failed or unknown attempts can be retried.",
                messages.WARNING,
            )
            return None
        if any(a.status == Status.UNKNOWN for a in eligible) and request.POST.get("confirm") != (
            "yes"
        ):
            return self._retry_confirmation(request, eligible, action=True)
        self._retry(request, eligible)
        if ineligible:
            self.message_user(
                request,
                f"{ineligible} selected attempt{'s' if ineligible != 1 else ''} not retried: "
                "only failed or unknown attempts can be retried.",
                messages.WARNING,
            )
        return None

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: confirmation page; POST: retry the attempt."""
        attempt = self._actionable_attempt(request, object_id)
        if not call_attempt_can_retry(attempt):
            self.message_user(
                request,
                f"Attempt {attempt.pk} is {attempt.get_status_display().lower()}: only failed "
                "or unknown attempts can be retried.",
                messages.WARNING,
            )
            return HttpResponseRedirect(self._change_url(attempt))
        if request.method != "POST" or request.POST.get("confirm") != "yes":
            return self._retry_confirmation(request, [attempt], action=False)
        retries = self._retry(request, [attempt])
        return HttpResponseRedirect(self._change_url(retries[0] if retries else attempt))

    def _retry(self, request: HttpRequest, attempts: list[CallAttempt]) -> list[CallAttempt]:
        retries: list[CallAttempt] = []
        repeated = 0
        for attempt in attempts:
            already = attempt.retries.exists()
            try:
                retry = call_attempt_retry(
                    attempt=attempt,
                    source=CallAttempt.Source.ADMIN,
                    requested_by=request.user,  # type: ignore[arg-type]
                    # Only reached after the confirmation page whenever one is unknown.
                    confirm_unknown=True,
                )
            except InvalidTransitionError as err:
                self.message_user(request, str(err), messages.WARNING)
                continue
            except ValidationError as err:
                # e.g. the agent was deactivated or left the queue since the first try.
                self.message_user(
                    request,
                    f"Attempt {attempt.pk} not retried: {'; '.join(err.messages)}",
                    messages.ERROR,
                )
                continue
            repeated += already
            retry.refresh_from_db()
            retries.append(retry)
        if retries:
            summary = OutcomeSummary.of(retries)
            level = messages.SUCCESS if len(summary.placed) == len(retries) else messages.WARNING
            text = f"Retried {len(retries)} attempt{'s' if len(retries) != 1 else ''}: "
            if repeated:
                text += (
                    f"{repeated} had already been retried and {'was' if repeated == 1 else 'were'}"
                    " not dialled again; "
                )
            self.message_user(request, text + summary.as_text(), level)
        return retries

    def _retry_confirmation(
        self, request: HttpRequest, attempts: list[CallAttempt], *, action: bool
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Retry call attempts?",
            "opts": self.opts,
            "attempts": [{"attempt": a, "reason": attempt_reason(a)} for a in attempts],
            "unknown_count": sum(1 for a in attempts if a.status == Status.UNKNOWN),
            "action": action,
            "action_name": "retry_attempts",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": reverse(
                "admin:clicktoagent_callattempt_changelist", current_app=self.admin_site.name
            ),
        }
        return TemplateResponse(
            request, "admin/clicktoagent/callattempt/retry_confirmation.html", context
        )

    # -- cancel --------------------------------------------------------------------

    @admin.action(description="Cancel selected pending attempts", permissions=["place_call"])
    def cancel_attempts(self, request: HttpRequest, queryset: QuerySet[CallAttempt]) -> None:
        cancelled, refused = 0, []
        for attempt in self._actionable(request, queryset, verb="cancelled"):
            try:
                call_attempt_cancel(attempt=attempt)
                cancelled += 1
            except InvalidTransitionError:
                refused.append(attempt)
        if cancelled:
            self.message_user(
                request, f"Cancelled {cancelled} attempt{'s' if cancelled != 1 else ''}."
            )
        if refused:
            self.message_user(
                request,
                f"{len(refused)} attempt{'s' if len(refused) != 1 else ''} not cancelled "
                f"(only pending attempts can be cancelled): "
                + ", ".join(f"{a.pk} is {a.get_status_display().lower()}" for a in refused)
                + ".",
                messages.WARNING,
            )

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: confirmation page; POST: cancel the pending attempt."""
        attempt = self._actionable_attempt(request, object_id)
        if request.method == "POST":
            try:
                call_attempt_cancel(attempt=attempt)
            except InvalidTransitionError as err:
                self.message_user(request, str(err), messages.WARNING)
            else:
                self.message_user(request, f"Attempt {attempt.pk} cancelled.")
            return HttpResponseRedirect(self._change_url(attempt))
        context = {
            **self.admin_site.each_context(request),
            "title": "Cancel call attempt?",
            "opts": self.opts,
            "attempt": attempt,
        }
        return TemplateResponse(
            request, "admin/clicktoagent/callattempt/cancel_confirmation.html", context
        )

    def _attempt_or_404(self, request: HttpRequest, object_id: str) -> CallAttempt:
        attempt: CallAttempt | None = self.get_object(request, unquote(object_id))
        if attempt is None or not self.has_view_permission(request, attempt):
            raise Http404(f"No call attempt {object_id!r}.")
        return attempt

    def _actionable_attempt(self, request: HttpRequest, object_id: str) -> CallAttempt:
        """The attempt to retry or cancel: 403 without place_call, 404 when the user
        may not see it, 403 when it is someone else's and the user may not act on it."""
        if not self.has_place_call_permission(request):
            raise PermissionDenied
        attempt = self._attempt_or_404(request, object_id)
        if not selectors.call_attempt_can_act(user=request.user, attempt=attempt):
            raise PermissionDenied(selectors.CANNOT_ACT_MESSAGE)
        return attempt

    def _actionable(
        self, request: HttpRequest, queryset: QuerySet[CallAttempt], *, verb: str
    ) -> QuerySet[CallAttempt]:
        """The selected attempts the user may act on; says how many were left out."""
        allowed = [
            a.pk for a in queryset if selectors.call_attempt_can_act(user=request.user, attempt=a)
        ]
        refused = queryset.exclude(pk__in=allowed).count()
        if refused:
            self.message_user(
                request,
                f"{refused} selected attempt{'s' if refused != 1 else ''} not {verb}: "
                + selectors.CANNOT_ACT_MESSAGE,
                messages.WARNING,
            )
        return queryset.filter(pk__in=allowed)

    def _change_url(self, attempt: CallAttempt) -> str:
        return reverse(
            "admin:clicktoagent_callattempt_change",
            args=[attempt.pk],
            current_app=self.admin_site.name,
        )

    # -- dashboard -----------------------------------------------------------------

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        start, end = DashboardPeriodForm.default_period()
        form = DashboardPeriodForm(request.GET or None, initial={"start": start, "end": end})
        status = 200
        if request.GET:
            if form.is_valid():
                start, end = form.cleaned_data["start"], form.cleaned_data["end"]
            else:
                status = 400  # the errors are shown above the default period
        # Staff with place_call alone see the numbers of their own attempts.
        attempts = selectors.call_attempt_visible_to(
            user=request.user, attempts=CallAttempt.objects.all()
        )
        days = selectors.call_attempt_daily_counts(start=start, end=end, attempts=attempts)
        rates = selectors.agent_success_rates(start=start, end=end, attempts=attempts)
        totals = {
            status: sum(day.counts.get(status, 0) for day in days) for status in Status.values
        }
        finished = totals[Status.PLACED] + totals[Status.FAILED] + totals[Status.UNKNOWN]
        context = {
            **self.admin_site.each_context(request),
            "title": "Call dashboard",
            "own_attempts_only": not selectors.call_attempt_visible_to_all(user=request.user),
            "opts": self.opts,
            "form": form,
            "start": start,
            "end": end,
            "days": days,
            "rates": rates,
            "totals": totals,
            "total": sum(totals.values()),
            "finished": finished,
            "success_rate": totals[Status.PLACED] / finished if finished else None,
            "daily_chart": charts.daily_chart(days),
            "agent_chart": charts.agent_chart(rates),
            "series": charts.SERIES,
            "changelist_url": reverse(
                "admin:clicktoagent_callattempt_changelist", current_app=self.admin_site.name
            ),
        }
        return TemplateResponse(
            request, "admin/clicktoagent/callattempt/dashboard.html", context, status=status
        )
