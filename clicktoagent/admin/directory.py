"""Admin of the directory: DialogTech queues and agents."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..calls import selectors
from ..calls.display import attempt_reason, status_badge
from ..models import Agent, Queue
from .links import admin_link

RECENT_ATTEMPTS = 10


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin[Queue]):
    list_display = ["queue_id", "name", "member_count", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["queue_id", "name"]
    readonly_fields = ["members", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["queue_id", "name", "is_active", "members"]}),
        (
            "Opening hours",
            {
                "fields": ["timezone", "opening_hours", "closed_dates"],
                "description": "Outside these hours the queue's agents are not called "
                "(the queue_hours rule); empty opening hours: always open.",
            },
        ),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Queue]:
        return super().get_queryset(request).annotate(n_members=Count("agents", distinct=True))

    @admin.display(description="members", ordering="n_members")
    def member_count(self, obj: Queue) -> int:
        return int(getattr(obj, "n_members", 0))

    @admin.display(description="members")
    def members(self, obj: Queue) -> SafeString | str:
        agents = list(obj.agents.order_by("name", "agent_id")) if obj.pk else []
        if not agents:
            return "No agents in this queue."
        return format_html(
            "<ul class='clicktoagent-members'>{}</ul>",
            format_html_join(
                "",
                "<li>{}{}</li>",
                ((admin_link(a), "" if a.is_active else " (inactive)") for a in agents),
            ),
        )


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin[Agent]):
    list_display = ["agent_id", "name", "user", "phone", "queue_list", "is_active"]
    list_filter = ["is_active", "queues"]
    search_fields = ["agent_id", "name", "user__username", "phone"]
    filter_horizontal = ["queues"]
    raw_id_fields = ["user"]
    readonly_fields = ["recent_attempts", "created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        return super().get_queryset(request).prefetch_related("queues").select_related("user")

    def get_readonly_fields(self, request: HttpRequest, obj: Agent | None = None) -> list[str]:
        fields = [str(name) for name in super().get_readonly_fields(request, obj)]
        # The agent's recent attempts are every user's: only for those who see all attempts.
        if not selectors.call_attempt_visible_to_all(user=request.user):
            fields.remove("recent_attempts")
        return fields

    @admin.display(description="queues")
    def queue_list(self, obj: Agent) -> str:
        return ", ".join(str(q) for q in obj.queues.all()) or "—"

    @admin.display(description="recent attempts")
    def recent_attempts(self, obj: Agent) -> SafeString | str:
        if not obj.pk:
            return "—"
        attempts = list(selectors.call_attempt_list(agent_id=obj.agent_id)[:RECENT_ATTEMPTS])
        if not attempts:
            return "No calls yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    admin_link(a, a.created_at.strftime("%Y-%m-%d %H:%M")),
                    a.phone_to_call,
                    a.queue,
                    status_badge(a.status),
                    a.sid or attempt_reason(a),
                )
                for a in attempts
            ),
        )
        return format_html(
            "<table class='clicktoagent-recent'><thead><tr><th>Created</th><th>Phone</th>"
            "<th>Queue</th><th>Status</th><th>Sid or reason</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )
