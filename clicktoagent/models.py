"""Queues, agents and call attempts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .weekly import validate_closed_dates, validate_opening_hours, validate_time_zone


def _user_link(*, related_name: str) -> models.ForeignKey[Any, Any]:
    """Who did something: optional, and kept (emptied) when the user is deleted."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name=related_name,
    )


class Queue(models.Model):
    """A DialogTech call distributor queue (a building block)."""

    queue_id = models.CharField(
        "queue ID", max_length=64, unique=True, help_text="DialogTech building block ID."
    )
    name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    # Opening hours (the queue_hours rule of clicktoagent.policy): outside them its agents
    # are not called. Empty: always open.
    timezone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="IANA time zone of the opening hours, e.g. America/Chicago "
        "(empty: the site's TIME_ZONE).",
    )
    opening_hours = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_opening_hours],
        help_text='Weekly ranges, e.g. ["mon-fri 09:00-17:30", "sat 10:00-14:00"]; '
        "empty: always open.",
    )
    closed_dates = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_closed_dates],
        help_text='Whole days the queue is closed, e.g. ["2026-12-25"].',
    )
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


# The permission that allows placing calls, and retrying and cancelling one's own.
PLACE_CALL_PERMISSION = "clicktoagent.place_call"
# Django's model permissions: seeing every user's attempts, and acting on every one.
VIEW_CALL_ATTEMPT_PERMISSION = "clicktoagent.view_callattempt"
CHANGE_CALL_ATTEMPT_PERMISSION = "clicktoagent.change_callattempt"
# Skipping the time-based safe-calling rules (calling_hours, queue_hours, daily_cap)
# with a stated reason.
OVERRIDE_GUARDRAILS_PERMISSION = "clicktoagent.override_guardrails"


class CallAttempt(models.Model):
    """One request to place a call between an agent and a contact."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DISPATCHING = "dispatching"
        PLACED = "placed"
        FAILED = "failed"
        UNKNOWN = "unknown"
        CANCELLED = "cancelled"
        # A safe-calling rule forbade it (clicktoagent.policy); stored, never sent.
        BLOCKED = "blocked"

    class OutsideHours(models.TextChoices):
        """What to do when a time-based rule forbids the call now."""

        SCHEDULE = "schedule", "Schedule for the next allowed moment"
        BLOCK = "block", "Block"

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        WEBHOOK = "webhook", "Webhook"
        COMMAND = "command", "Command"

    # Not finished yet: queued, or being sent.
    IN_PROGRESS = (Status.PENDING, Status.DISPATCHING)

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

    # Indexed by (status, created_at) and (sid) in Meta.indexes: no pattern (LIKE) index,
    # since every claim and answer changes status and sid and so writes every index.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    sid = models.CharField(max_length=64, blank=True)
    result = models.CharField(max_length=64, blank=True)
    result_description = models.TextField(blank=True)
    error = models.TextField(blank=True, help_text="Our own reason, when DialogTech gave none.")

    content_type = models.ForeignKey(
        ContentType, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    object_id = models.CharField(max_length=64, blank=True)
    contact = GenericForeignKey("content_type", "object_id")
    contact_ref = models.CharField(max_length=255, blank=True, help_text="e.g. hubspot:contact:501")

    source = models.CharField(max_length=16, choices=Source.choices)
    requested_by = _user_link(related_name="clicktoagent_call_attempts")
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # Hash of the request an idempotency key was first used with.
    request_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    tries = models.PositiveSmallIntegerField(default=0)
    next_try_at = models.DateTimeField(null=True, blank=True)
    retry_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries"
    )

    # Safe calling (clicktoagent.policy): the contact's state or province as the caller
    # knew it, what to do outside hours, the rules the call broke when it was last
    # checked ({"rule", "message", "next_allowed_at"}), what the checks changed (e.g.
    # {"warning": 1}), and the rules a permitted user skipped, who and why.
    contact_region = models.CharField(
        max_length=8, blank=True, help_text="e.g. FL or ON: the contact's state or province."
    )
    outside_hours = models.CharField(
        max_length=8, choices=OutsideHours.choices, default=OutsideHours.SCHEDULE
    )
    violations = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    adjustments = models.JSONField(default=dict, blank=True)
    overridden_rules = models.JSONField(default=list, blank=True)
    override_reason = models.TextField(blank=True)
    overridden_by = _user_link(related_name="+")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("place_call", "Can place calls through DialogTech"),
            (
                "override_guardrails",
                "Can skip calling hours, queue hours and daily caps, with a reason",
            ),
        ]
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
                        "blocked",
                    ]
                ),
                name="clicktoagent_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="clicktoagent_status_created"),
            models.Index(fields=["content_type", "object_id"], name="clicktoagent_contact"),
            # The daily_cap rule counts a number's recent attempts.
            models.Index(fields=["phone_to_call", "created_at"], name="clicktoagent_number_recent"),
            # Exact lookups only (the API's contact_ref filter, a call found by its sid).
            models.Index(fields=["contact_ref"], name="clicktoagent_contact_ref"),
            models.Index(fields=["sid"], name="clicktoagent_sid"),
        ]

    def __str__(self) -> str:
        return f"Call attempt {self.pk} to {self.phone_to_call} ({self.status})"


class WebhookProvider(models.TextChoices):
    """The CRMs (and the generic Standard Webhooks sender) that can post webhooks."""

    GENERIC = "generic", "Standard Webhooks"
    HUBSPOT = "hubspot", "HubSpot"
    SALESFORCE = "salesforce", "Salesforce"
    PIPEDRIVE = "pipedrive", "Pipedrive"


class WebhookEvent(models.Model):
    """One authenticated webhook delivery, stored before it is acted on."""

    class Status(models.TextChoices):
        RECEIVED = "received"
        PROCESSED = "processed"
        REJECTED = "rejected"
        IGNORED = "ignored"
        DUPLICATE = "duplicate"

    class CallbackStatus(models.TextChoices):
        NONE = "", "No callback"
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    provider = models.CharField(max_length=32, choices=WebhookProvider.choices)
    delivery_id = models.CharField(
        "delivery ID",
        max_length=200,
        help_text="The sender's id of the delivery (or a hash of the body when it sends none).",
    )
    # True for the delivery that owns its delivery id; redeliveries (and, for
    # providers deduplicated within a time window, deliveries past the window) do not.
    holds_delivery_id = models.BooleanField(default=True, editable=False)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    body = models.TextField(blank=True, help_text="The raw body as received.")
    headers = models.JSONField(default=dict, blank=True, help_text="A safe subset of headers.")
    query = models.JSONField(
        default=dict, blank=True, help_text="Defaults from the webhook URL (queue_id, agent_id)."
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RECEIVED, db_index=True
    )
    error = models.TextField(blank=True, help_text="Why the delivery was rejected or ignored.")
    attempts = models.ManyToManyField(CallAttempt, blank=True, related_name="webhook_events")
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="duplicates"
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    callback_url = models.URLField(max_length=2000, blank=True)
    callback_status = models.CharField(
        max_length=16, choices=CallbackStatus.choices, default=CallbackStatus.NONE, blank=True
    )
    callback_tries = models.PositiveSmallIntegerField(default=0)
    callback_error = models.TextField(blank=True)
    callback_delivered_at = models.DateTimeField(null=True, blank=True)
    # When a pending callback is due; a claimed try holds it as a lease until it ends.
    callback_next_try_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "delivery_id"],
                condition=Q(holds_delivery_id=True),
                name="clicktoagent_webhook_unique_delivery",
            ),
        ]
        indexes = [
            models.Index(fields=["provider", "delivery_id"], name="clicktoagent_webhook_delivery"),
            models.Index(
                fields=["callback_status", "callback_next_try_at"],
                name="clicktoagent_webhook_callback",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} delivery {self.delivery_id} ({self.status})"


class CrmUserMapping(models.Model):
    """A CRM user (the owner of a record) -> the agent who calls that owner's contacts."""

    provider = models.CharField(max_length=32, choices=WebhookProvider.choices)
    crm_user_id = models.CharField(
        "CRM user ID",
        max_length=255,
        help_text="The owner id as the CRM sends it (HubSpot owner id, Salesforce OwnerId, "
        "Pipedrive user id).",
    )
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="crm_user_mappings")
    note = models.CharField(max_length=200, blank=True, help_text="e.g. the CRM user's name.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "crm_user_id"]
        verbose_name = "CRM user mapping"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "crm_user_id"], name="clicktoagent_unique_crm_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} user {self.crm_user_id} -> {self.agent}"


class ThrottleCounter(models.Model):
    """One throttle window shared by every process: how many hits until it expires.

    Written only with one atomic ``INSERT ... ON CONFLICT DO UPDATE`` (see throttles.py),
    so concurrent requests on any number of machines never lose a count.
    """

    key = models.CharField(max_length=200, primary_key=True)
    hits = models.PositiveIntegerField(default=0)
    # Epoch seconds at which this window ends and the count starts again from zero.
    expires_at = models.FloatField(db_index=True)

    class Meta:
        verbose_name = "throttle counter"

    def __str__(self) -> str:
        return f"{self.key}: {self.hits}"


class CrmProvider(models.TextChoices):
    """The CRMs a finished call can be written back to (same values as the webhooks')."""

    HUBSPOT = "hubspot", "HubSpot"
    SALESFORCE = "salesforce", "Salesforce"
    PIPEDRIVE = "pipedrive", "Pipedrive"


class CrmWriteback(models.Model):
    """Logging one finished attempt as a call activity on the CRM record it names.

    One row per attempt (a unique attempt), so concurrent finishes and redelivered tasks
    share it; each try claims it with one conditional UPDATE.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        WRITTEN = "written"
        FAILED = "failed"
        UNKNOWN = "unknown"

    attempt = models.OneToOneField(
        CallAttempt, on_delete=models.CASCADE, related_name="crm_writeback"
    )
    provider = models.CharField(max_length=32, choices=CrmProvider.choices)
    object_type = models.CharField(
        max_length=64, blank=True, help_text="e.g. contact, Lead, person."
    )
    object_id = models.CharField("object ID", max_length=64, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    tries = models.PositiveSmallIntegerField(default=0)
    # When a pending write-back is due; a claimed try holds it as a lease until it ends.
    next_try_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    crm_record_id = models.CharField(
        "CRM record ID", max_length=128, blank=True, help_text="The activity the CRM created."
    )
    # Written into the activity so that it can be found again (the sid when there is one).
    lookup_key = models.CharField(max_length=128, blank=True, editable=False)
    # A create request was sent and not answered: look the activity up before another.
    maybe_written = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    written_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "CRM write-back"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "written", "failed", "unknown"]),
                name="clicktoagent_crm_writeback_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_try_at"], name="clicktoagent_crm_due"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_provider_display()} write-back of call attempt {self.attempt_id} "
            f"({self.status})"
        )

    @property
    def contact_ref(self) -> str:
        return f"{self.provider}:{self.object_type}:{self.object_id}"


class DoNotCallEntry(models.Model):
    """A number that asked never to be called: the do_not_call rule refuses every call
    to it, with no override. To call it again, delete the entry."""

    phone_number = models.CharField(
        max_length=20, unique=True, help_text="E.164, e.g. +13125550100."
    )
    reason = models.CharField(max_length=500, blank=True)
    source = models.CharField(
        max_length=64, blank=True, help_text="Where it came from: admin, api, import, ..."
    )
    added_by = _user_link(related_name="+")
    added_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-added_at", "-id"]
        verbose_name = "do-not-call entry"
        verbose_name_plural = "do-not-call entries"

    def __str__(self) -> str:
        return self.phone_number
