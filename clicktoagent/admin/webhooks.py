"""Admin for received webhook deliveries and the CRM user -> agent mappings."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..exceptions import ClickToAgentError
from ..models import PLACE_CALL_PERMISSION, CrmUserMapping, WebhookEvent
from ..webhooks.services import webhook_event_process_again

__all__ = ["CrmUserMappingAdmin", "WebhookEventAdmin"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin[WebhookEvent]):
    list_display = [
        "id",
        "received_at",
        "provider",
        "delivery_id",
        "status",
        "short_error",
        "attempt_links",
        "callback_status",
    ]
    list_filter = ["provider", "status", "callback_status", "received_at"]
    search_fields = ["delivery_id", "error", "attempts__contact_ref", "attempts__phone_to_call"]
    date_hierarchy = "received_at"
    actions = ["process_again"]
    fields = (
        "provider",
        "delivery_id",
        "received_at",
        "status",
        "error",
        "processed_at",
        "attempt_links",
        "duplicate_of",
        "query",
        "pretty_headers",
        "raw_body",
        "callback_url",
        "callback_status",
        "callback_tries",
        "callback_next_try_at",
        "callback_error",
        "callback_delivered_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEvent]:
        return super().get_queryset(request).prefetch_related("attempts")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # deliveries arrive through the webhook endpoints only

    def has_change_permission(self, request: HttpRequest, obj: WebhookEvent | None = None) -> bool:
        return False  # a stored delivery is a record of what was received

    def has_place_call_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(PLACE_CALL_PERMISSION))

    @admin.display(description="error")
    def short_error(self, obj: WebhookEvent) -> str:
        return obj.error if len(obj.error) <= 80 else obj.error[:77] + "..."

    @admin.display(description="call attempts")
    def attempt_links(self, obj: WebhookEvent) -> SafeString:
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            (
                (
                    reverse("admin:clicktoagent_callattempt_change", args=[a.pk]),
                    f"#{a.pk} {a.status}",
                )
                for a in obj.attempts.all()
            ),
        )

    @admin.display(description="headers")
    def pretty_headers(self, obj: WebhookEvent) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(obj.headers, indent=2, sort_keys=True))

    @admin.display(description="raw body")
    def raw_body(self, obj: WebhookEvent) -> SafeString:
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', obj.body)

    @admin.action(description="Process again", permissions=["place_call"])
    def process_again(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        for event in queryset.order_by("received_at", "id"):
            try:
                outcome = webhook_event_process_again(event=event)
            except ClickToAgentError as err:
                self.message_user(request, str(err), messages.ERROR)
                continue
            processed = outcome.event
            if processed.status == WebhookEvent.Status.PROCESSED:
                ids = ", ".join(f"#{a.pk}" for a in outcome.attempts)
                self.message_user(
                    request,
                    f"Event {processed.pk} processed: call attempt(s) {ids}.",
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    f"Event {processed.pk} {processed.status}: {processed.error}",
                    messages.WARNING,
                )


@admin.register(CrmUserMapping)
class CrmUserMappingAdmin(admin.ModelAdmin[CrmUserMapping]):
    list_display = ["provider", "crm_user_id", "agent", "note", "updated_at"]
    list_filter = ["provider"]
    search_fields = ["crm_user_id", "note", "agent__agent_id", "agent__name"]
    list_select_related = ["agent"]
