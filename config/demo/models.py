"""The demo's contact record: what a host project's own CRM model might look like."""

from django.db import models


class Contact(models.Model):
    name = models.CharField(max_length=200)
    company = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    # The contact's state or province (FL, ON): CLICKTOAGENT["CONTACT_REGION_FIELD"].
    state = models.CharField(max_length=32, blank=True)
    # Filled by clicktoagent through CLICKTOAGENT["CONTACT_FIELDS"].
    last_call_sid = models.CharField(max_length=64, blank=True)
    last_call_status = models.CharField(max_length=16, blank=True)
    last_call_result = models.TextField(blank=True)
    last_called_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
