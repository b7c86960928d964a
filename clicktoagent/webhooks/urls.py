"""One endpoint per provider, at ``<provider>/`` (``webhook-<provider>`` by name)."""

from django.urls import URLPattern, URLResolver, path

from .providers import VIEWS

urlpatterns: list[URLPattern | URLResolver] = [
    path(f"{view.provider}/", view.as_view(), name=f"webhook-{view.provider}") for view in VIEWS
]
