"""The app's URLs; a host project mounts them, e.g. at ``clicktoagent/``."""

from django.urls import include, path

from .button import views as button

app_name = "clicktoagent"

urlpatterns = [
    path("api/", include("clicktoagent.api.urls")),
    path("webhooks/", include("clicktoagent.webhooks.urls")),
    path("health/", include("clicktoagent.dispatch.health")),
    path("call/", button.call_button, name="call"),
]
