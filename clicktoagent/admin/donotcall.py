"""Admin of the do-not-call list: list, add, delete, CSV import and export.

Every change goes through ``clicktoagent.donotcall``. Entries are not edited: delete one
and add the number again. Importing needs ``add_donotcallentry``; exporting
``view_donotcallentry``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from .. import donotcall
from ..conf import app_settings
from ..exceptions import DoNotCallImportError
from ..models import DoNotCallEntry

# Room for the multipart envelope and the CSRF token around the file itself.
UPLOAD_OVERHEAD_BYTES = 64 * 1024
REASON_SHOWN = 80


class DoNotCallEntryForm(forms.ModelForm[DoNotCallEntry]):
    class Meta:
        model = DoNotCallEntry
        fields = ["phone_number", "reason"]
        help_texts = {
            "phone_number": "As people type it, e.g. (312) 555-0123; stored in E.164. Any "
            "valid number of the allowed regions, whatever its type."
        }

    def clean_phone_number(self) -> str:
        number = donotcall.dnc_normalize(self.cleaned_data.get("phone_number") or "")
        existing = DoNotCallEntry.objects.filter(phone_number=number).first()
        if existing is not None:
            raise ValidationError(
                f"{number} is already on the do-not-call list (added "
                f"{existing.added_at:%Y-%m-%d}).",
                code="already_listed",
            )
        return number


class DoNotCallImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, with a header row: phone_number,reason (reason optional; other "
        "columns are ignored, so an export can be imported).",
    )


def _csv_response(entries: QuerySet[DoNotCallEntry] | None) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        donotcall.dnc_export_csv(entries), content_type="text/csv; charset=utf-8"
    )
    name = f"do-not-call-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@admin.register(DoNotCallEntry)
class DoNotCallEntryAdmin(admin.ModelAdmin[DoNotCallEntry]):
    form = DoNotCallEntryForm
    list_display = ["phone_number", "reason_shown", "source", "added_by", "added_at"]
    list_filter = ["source", "added_at"]
    search_fields = ["phone_number", "reason"]
    list_select_related = ["added_by"]
    date_hierarchy = "added_at"
    actions = ["export_csv"]
    readonly_fields = ["source", "added_by", "added_at"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # An entry is kept as it was added: delete it and add the number again.
        return False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("phone_number", "reason")
        return ("phone_number", "reason", "source", "added_by", "added_at")

    @admin.display(description="reason", ordering="reason")
    def reason_shown(self, obj: DoNotCallEntry) -> str:
        if len(obj.reason) > REASON_SHOWN:
            return obj.reason[: REASON_SHOWN - 1] + "…"
        return obj.reason

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[DoNotCallEntry], search_term: str
    ) -> tuple[QuerySet[DoNotCallEntry], bool]:
        found, duplicates = super().get_search_results(request, queryset, search_term)
        # "(312) 555-0123" finds +13125550123.
        try:
            number = donotcall.dnc_normalize(search_term)
        except ValidationError:
            return found, duplicates
        return found | queryset.filter(phone_number=number), duplicates

    # -- writes go through the service

    def save_model(
        self, request: HttpRequest, obj: DoNotCallEntry, form: Any, change: bool
    ) -> None:
        entry = donotcall.dnc_add(
            phone_number=obj.phone_number,
            reason=obj.reason,
            source=donotcall.SOURCE_ADMIN,
            added_by=request.user,  # type: ignore[arg-type]
        )
        obj.pk, obj.reason, obj.source = entry.pk, entry.reason, entry.source
        obj.added_by, obj.added_at = entry.added_by, entry.added_at

    def delete_model(self, request: HttpRequest, obj: DoNotCallEntry) -> None:
        donotcall.dnc_remove(entry=obj, removed_by=request.user)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[DoNotCallEntry]) -> None:
        donotcall.dnc_remove_many(entries=queryset, removed_by=request.user)  # type: ignore[arg-type]

    # -- export

    @admin.action(description="Export selected entries as CSV", permissions=["view"])
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[DoNotCallEntry]
    ) -> StreamingHttpResponse:
        return _csv_response(queryset)

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return _csv_response(None)

    # -- import

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view

        # The size is checked before the body is read, so the CSRF check (which reads
        # the form) comes after it, inside.
        @csrf_exempt
        def import_entry(request: HttpRequest) -> HttpResponse:
            if not self.has_add_permission(request):
                raise PermissionDenied
            if request.method == "POST" and _declared_length(request) > _upload_limit():
                return self._import_page(request, DoNotCallImportForm(), status=413)
            response: HttpResponse = csrf_protect(self.import_view)(request)
            return response

        urls = [
            path("import/", wrap(import_entry), name="{}_{}_import".format(*info)),
            path("export/", wrap(self.export_view), name="{}_{}_export".format(*info)),
        ]
        return urls + super().get_urls()

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the upload form; POST: import the file, then back to the list."""
        if request.method != "POST":
            return self._import_page(request, DoNotCallImportForm())
        form = DoNotCallImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self._import_page(request, form, status=400)
        upload = form.cleaned_data["file"]
        try:
            result = donotcall.dnc_import_csv(
                upload,
                source=donotcall.SOURCE_ADMIN,
                added_by=request.user,  # type: ignore[arg-type]
            )
        except DoNotCallImportError as err:
            return self._import_page(request, form, problem=err, status=400)
        self.message_user(request, f"Imported {upload.name}: {result.as_text()}", messages.SUCCESS)
        return HttpResponseRedirect(self._changelist_url())

    def _import_page(
        self,
        request: HttpRequest,
        form: DoNotCallImportForm,
        *,
        problem: DoNotCallImportError | None = None,
        status: int = 200,
    ) -> TemplateResponse:
        summary = ""
        if problem is not None:
            summary = str(problem).splitlines()[0]
        elif status == 413:
            summary = (
                f"The file is larger than {_upload_limit() - UPLOAD_OVERHEAD_BYTES} bytes "
                "(CLICKTOAGENT['DNC_IMPORT_MAX_BYTES']); split it. Nothing was imported."
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Import do-not-call numbers",
            "opts": self.opts,
            "form": form,
            "summary": summary,
            "problems": [
                f"line {line}: {message}"
                for line, message in (problem.errors if problem else [])[
                    : donotcall.MAX_LISTED_ERRORS
                ]
            ],
            "more_problems": max(
                0, len(problem.errors if problem else []) - donotcall.MAX_LISTED_ERRORS
            ),
            "max_bytes": app_settings.DNC_IMPORT_MAX_BYTES,
            "max_rows": app_settings.DNC_IMPORT_MAX_ROWS,
            "changelist_url": self._changelist_url(),
        }
        return TemplateResponse(
            request, "admin/clicktoagent/donotcallentry/import.html", context, status=status
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        name = self.admin_site.name
        extra_context = {
            **(extra_context or {}),
            "export_url": reverse("admin:clicktoagent_donotcallentry_export", current_app=name),
        }
        if self.has_add_permission(request):
            extra_context["import_url"] = reverse(
                "admin:clicktoagent_donotcallentry_import", current_app=name
            )
        return super().changelist_view(request, extra_context)

    def _changelist_url(self) -> str:
        return reverse(
            "admin:clicktoagent_donotcallentry_changelist", current_app=self.admin_site.name
        )


def _upload_limit() -> int:
    return int(app_settings.DNC_IMPORT_MAX_BYTES) + UPLOAD_OVERHEAD_BYTES


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
