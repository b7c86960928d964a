"""The write-back of one finished call attempt onto its CRM record."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from ..models import CallAttempt


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
        PENDING = "pending", "Pending"
        WRITTEN = "written", "Written"
        FAILED = "failed", "Failed"
        UNKNOWN = "unknown", "Unknown"

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
