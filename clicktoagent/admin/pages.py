"""What the app's admin pages share: the app's stylesheet, and the one place that
overrides Django's ``render_change_form`` to add context about the object shown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.db.models import Model
from django.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from django.contrib import admin

    _Base = admin.ModelAdmin[Any]
else:
    _Base = object

STYLES = forms.Media(css={"all": ["clicktoagent/admin.css"]})


class ClickToAgentPages(_Base):
    """Mixed into a ``ModelAdmin``: its change list and change form load the app's
    stylesheet (as form media, so a host's own ``Media`` keeps working), and
    :meth:`change_form_context` adds to the change form's context."""

    @property
    def media(self) -> forms.Media:
        return super().media + STYLES

    def change_form_context(self, request: HttpRequest, obj: Any) -> dict[str, Any]:
        """Extra context for the change form of ``obj`` (None when adding)."""
        return {}

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Model | None = None,
    ) -> HttpResponse:
        context.update(self.change_form_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)
