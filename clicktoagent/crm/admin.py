"""Admin of the CRM write-back: a column, a filter, the state on the attempt page and a
"write back again" action on call attempts (:class:`CrmWritebackAdminMixin`), and a
read-only list of every write-back."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .. import selectors
from ..exceptions import InvalidTransitionError
from ..models import PLACE_CALL_PERMISSION, CallAttempt, CrmWriteback

__all__ = ["CrmWritebackAdmin", "CrmWritebackAdminMixin"]

Status = CrmWriteback.Status
FIELD = "crm_writeback_detail"


def writeback_badge(writeback: CrmWriteback | None) -> SafeString | str:
    if writeback is None:
        return "—"
    return format_html(
        '<span class="clicktoagent-badge clicktoagent-badge-{}" title="{}">{}</span>',
        writeback.status,
        writeback.last_error,
        writeback.get_status_display(),
    )


def _writeback_of(attempt: CallAttempt) -> CrmWriteback | None:
    try:
        return attempt.crm_writeback
    except CrmWriteback.DoesNotExist:
        return None


class CrmWritebackFilter(admin.SimpleListFilter):
    title = "CRM write-back"
    parameter_name = "crm_writeback"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*Status.choices, ("none", "None")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "none":
            return queryset.filter(crm_writeback__isnull=True)
        if value in Status.values:
            return queryset.filter(crm_writeback__status=value)
        return queryset


def _write_back_again(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, writebacks: list[CrmWriteback]
) -> None:
    from .services import crm_writeback_retry

    again, refused = [], []
    for writeback in writebacks:
        try:
            again.append(crm_writeback_retry(writeback=writeback))
        except InvalidTransitionError:
            refused.append(writeback)
    if again:
        written = sum(1 for w in again if w.status == Status.WRITTEN)
        modeladmin.message_user(
            request,
            f"Writing back {len(again)} call{'s' if len(again) != 1 else ''} again: "
            f"{written} written, {len(again) - written} pending or failed (see each call).",
            messages.SUCCESS if written == len(again) else messages.WARNING,
        )
    if refused:
        modeladmin.message_user(
            request,
            f"{len(refused)} not written back again: only failed write-backs can be "
            "(pending ones are on their way, unknown ones may already be in the CRM: check "
            "the record's timeline).",
            messages.WARNING,
        )


class CrmWritebackAdminMixin:
    """Adds the write-back to the call attempt admin: list column and filter, a section
    on the attempt page, and the "write back again" action for failed write-backs."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[CallAttempt]:
        return super().get_queryset(request).select_related("crm_writeback")  # type: ignore[misc, no-any-return]

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        return [*super().get_list_display(request), "crm_writeback_status"]  # type: ignore[misc]

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        return [*super().get_list_filter(request), CrmWritebackFilter]  # type: ignore[misc]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fieldsets = list(super().get_fieldsets(request, obj))  # type: ignore[misc]
        return [*fieldsets, ("CRM write-back", {"fields": [FIELD]})]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*super().get_readonly_fields(request, obj), FIELD]  # type: ignore[misc]

    @admin.display(description="CRM write-back", ordering="crm_writeback__status")
    def crm_writeback_status(self, obj: CallAttempt) -> SafeString | str:
        return writeback_badge(_writeback_of(obj))

    @admin.display(description="CRM write-back")
    def crm_writeback_detail(self, obj: CallAttempt) -> SafeString | str:
        writeback = _writeback_of(obj)
        if writeback is None:
            return "None: the contact_ref names no record of a CRM with write-back on."
        rows = [
            ("Status", writeback_badge(writeback)),
            ("Record", writeback.contact_ref),
            ("CRM record ID", writeback.crm_record_id or "—"),
            ("Tries", str(writeback.tries)),
            ("Next try", str(writeback.next_try_at or "—")),
            ("Written at", str(writeback.written_at or "—")),
            ("Last error", writeback.last_error or "—"),
        ]
        return format_html(
            "<table class='clicktoagent-crm-writeback'>{}</table>",
            format_html(
                "".join("<tr><th>{}</th><td>{}</td></tr>" for _ in rows),
                *[part for row in rows for part in row],
            ),
        )

    @admin.action(description="Write failed CRM write-backs again", permissions=["place_call"])
    def write_back_again(self, request: HttpRequest, queryset: QuerySet[CallAttempt]) -> None:
        allowed = [
            a for a in queryset if selectors.call_attempt_can_act(user=request.user, attempt=a)
        ]
        if len(allowed) < queryset.count():
            self.message_user(  # type: ignore[attr-defined]
                request,
                f"{queryset.count() - len(allowed)} selected attempt(s) left out: "
                + selectors.CANNOT_ACT_MESSAGE,
                messages.WARNING,
            )
        writebacks = list(CrmWriteback.objects.filter(attempt__in=allowed))
        if not writebacks:
            self.message_user(  # type: ignore[attr-defined]
                request, "None of the selected attempts has a CRM write-back.", messages.WARNING
            )
            return
        _write_back_again(self, request, writebacks)  # type: ignore[arg-type]

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # Django 6.1 asks per location (change list, change form); 5.2 has no locations.
        where: tuple[Any, ...] = () if action_location is None else (action_location,)
        actions: dict[str, Any] = super().get_actions(request, *where)  # type: ignore[misc]
        if request.user.has_perm(PLACE_CALL_PERMISSION):
            action = self.get_action("write_back_again", *where)  # type: ignore[attr-defined]
            # None where the action is not offered (on Django 6.1: the change form).
            if action is not None:
                actions["write_back_again"] = action
        return actions


# What a write-back is, shown in the list and again on its page.
_COLUMNS = ("attempt_link", "provider", "record", "status_badge", "crm_record_id", "tries")


@admin.register(CrmWriteback)
class CrmWritebackAdmin(admin.ModelAdmin[CrmWriteback]):
    list_display = ["created_at", *_COLUMNS, "short_error"]
    list_filter = ["status", "provider", "created_at"]
    search_fields = ["object_id", "crm_record_id", "attempt__sid", "attempt__contact_ref"]
    list_select_related = ["attempt"]
    actions = ["write_back_again"]
    fields = (*_COLUMNS, "next_try_at", "last_error", "created_at", "written_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made when an attempt finishes

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # changed only by the write-back service

    def has_place_call_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(PLACE_CALL_PERMISSION))

    @admin.display(description="call attempt", ordering="attempt")
    def attempt_link(self, obj: CrmWriteback) -> SafeString | str:
        try:
            url = reverse("admin:clicktoagent_callattempt_change", args=[obj.attempt_id])
        except NoReverseMatch:
            return f"#{obj.attempt_id}"
        return format_html('<a href="{}">#{}</a>', url, obj.attempt_id)

    @admin.display(description="record")
    def record(self, obj: CrmWriteback) -> str:
        return obj.contact_ref

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: CrmWriteback) -> SafeString | str:
        return writeback_badge(obj)

    @admin.display(description="last error")
    def short_error(self, obj: CrmWriteback) -> str:
        error = obj.last_error
        return error if len(error) <= 80 else error[:77] + "..."

    @admin.action(description="Write failed write-backs again", permissions=["place_call"])
    def write_back_again(self, request: HttpRequest, queryset: QuerySet[CrmWriteback]) -> None:
        writebacks = list(queryset.select_related("attempt"))
        allowed = [
            w
            for w in writebacks
            if selectors.call_attempt_can_act(user=request.user, attempt=w.attempt)
        ]
        if len(allowed) < len(writebacks):
            self.message_user(
                request,
                f"{len(writebacks) - len(allowed)} selected write-back(s) left out: "
                + selectors.CANNOT_ACT_MESSAGE,
                messages.WARNING,
            )
        _write_back_again(self, request, allowed)
