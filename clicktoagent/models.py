"""Queues, agents and call attempts."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q


class Queue(models.Model):
    """A DialogTech call distributor queue (a building block)."""

    queue_id = models.CharField(
        "queue ID", max_length=64, unique=True, help_text="DialogTech building block ID."
    )
    name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "queue_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.queue_id})" if self.name else self.queue_id


class Agent(models.Model):
    """A DialogTech call distributor agent."""

    agent_id = models.CharField(
        "agent ID", max_length=64, unique=True, help_text="DialogTech Agent ID."
    )
    name = models.CharField(max_length=200, blank=True)
    queues = models.ManyToManyField(Queue, related_name="agents", blank=True)
    is_active = models.BooleanField(default=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="clicktoagent_agent",
        help_text="The user who works as this agent.",
    )
    phone = models.CharField(max_length=32, blank=True, help_text="The agent's own number.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "agent_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.agent_id})" if self.name else self.agent_id


class CallAttempt(models.Model):
    """One request to place a call between an agent and a contact."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DISPATCHING = "dispatching", "Dispatching"
        PLACED = "placed", "Placed"
        FAILED = "failed", "Failed"
        UNKNOWN = "unknown", "Unknown"
        CANCELLED = "cancelled", "Cancelled"

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        WEBHOOK = "webhook", "Webhook"
        COMMAND = "command", "Command"

    FINISHED_STATUSES = (Status.PLACED, Status.FAILED, Status.UNKNOWN, Status.CANCELLED)

    class Record(models.IntegerChoices):
        OFF = 0, "Do not record"
        ON = 1, "Record"

    class Warning(models.IntegerChoices):
        NONE = 0, "No recording warning"
        BOTH = 1, "Warning for both parties"
        AGENT = 2, "Warning for the agent only"
        CONTACT = 3, "Warning for the contact only"

    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="call_attempts")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="call_attempts")
    phone_to_call = models.CharField(max_length=20)
    first_callerid = models.CharField(max_length=20, blank=True)
    second_callerid = models.CharField(max_length=20, blank=True)
    record = models.PositiveSmallIntegerField(choices=Record.choices)
    warning = models.PositiveSmallIntegerField(choices=Warning.choices)

    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    sid = models.CharField(max_length=64, blank=True, db_index=True)
    result = models.CharField(max_length=64, blank=True)
    result_description = models.TextField(blank=True)
    error = models.TextField(blank=True, help_text="Our own reason, when DialogTech gave none.")

    content_type = models.ForeignKey(
        ContentType, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    object_id = models.CharField(max_length=64, blank=True)
    contact = GenericForeignKey("content_type", "object_id")
    contact_ref = models.CharField(
        max_length=255, blank=True, db_index=True, help_text="e.g. hubspot:contact:501"
    )

    source = models.CharField(max_length=16, choices=Source.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="clicktoagent_call_attempts",
    )
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # Hash of the request an idempotency key was first used with.
    request_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    tries = models.PositiveSmallIntegerField(default=0)
    next_try_at = models.DateTimeField(null=True, blank=True)
    retry_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries"
    )

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("place_call", "Can place calls through DialogTech")]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="clicktoagent_unique_idempotency_key",
            ),
            models.CheckConstraint(
                condition=Q(record__in=[0, 1]), name="clicktoagent_record_0_or_1"
            ),
            models.CheckConstraint(
                condition=Q(warning__in=[0, 1, 2, 3]), name="clicktoagent_warning_0_to_3"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "pending",
                        "dispatching",
                        "placed",
                        "failed",
                        "unknown",
                        "cancelled",
                    ]
                ),
                name="clicktoagent_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="clicktoagent_status_created"),
            models.Index(fields=["content_type", "object_id"], name="clicktoagent_contact"),
        ]

    def __str__(self) -> str:
        return f"Call attempt {self.pk} to {self.phone_to_call} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES
