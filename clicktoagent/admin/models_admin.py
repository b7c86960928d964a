"""Admin for queues, agents and call attempts."""

from __future__ import annotations

from django.contrib import admin

from ..models import Agent, CallAttempt, Queue


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin[Queue]):
    list_display = ["queue_id", "name", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["queue_id", "name"]


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin[Agent]):
    list_display = ["agent_id", "name", "user", "phone", "is_active"]
    list_filter = ["is_active", "queues"]
    search_fields = ["agent_id", "name", "user__username", "phone"]
    filter_horizontal = ["queues"]
    raw_id_fields = ["user"]


@admin.register(CallAttempt)
class CallAttemptAdmin(admin.ModelAdmin[CallAttempt]):
    list_display = [
        "id",
        "created_at",
        "phone_to_call",
        "agent",
        "queue",
        "status",
        "sid",
        "source",
        "contact_ref",
    ]
    list_filter = ["status", "source", "queue", "agent", "created_at"]
    search_fields = ["phone_to_call", "sid", "contact_ref"]
    list_select_related = ["agent", "queue"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "status",
        "sid",
        "result",
        "result_description",
        "error",
        "tries",
        "next_try_at",
        "retry_of",
        "idempotency_key",
        "created_at",
        "dispatched_at",
        "finished_at",
    ]
    raw_id_fields = ["requested_by"]

    def has_add_permission(self, request: object) -> bool:
        # Attempts are created through the services (actions, API, webhooks, command).
        return False
