from django.contrib import admin

from clicktoagent.admin import ClickToAgentAdminMixin

from .models import Contact


@admin.register(Contact)
class ContactAdmin(ClickToAgentAdminMixin, admin.ModelAdmin[Contact]):
    clicktoagent_phone_field = "phone"
    list_display = [
        "name",
        "company",
        "phone",
        "last_call_status",
        "last_call_sid",
        "last_called_at",
    ]
    search_fields = ["name", "company", "phone", "email"]
    readonly_fields = ["last_call_sid", "last_call_status", "last_call_result", "last_called_at"]
