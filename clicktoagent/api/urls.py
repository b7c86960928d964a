"""REST API routes, under the app's ``api/`` (``/clicktoagent/api/`` in the demo)."""

from django.urls import URLPattern, URLResolver, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from . import checks, donotcall, views

router = SimpleRouter()
router.register("call-attempts", views.CallAttemptViewSet, basename="call-attempt")
router.register("agents", views.AgentViewSet, basename="agent")
router.register("queues", views.QueueViewSet, basename="queue")
router.register("do-not-call", donotcall.DoNotCallEntryViewSet, basename="do-not-call")

urlpatterns: list[URLPattern | URLResolver] = [
    *router.urls,
    path("call-checks/", checks.CallCheckView.as_view(), name="call-check"),
    path(
        "schema/",
        SpectacularAPIView.as_view(
            custom_settings={
                "TITLE": "django-clicktoagent API",
                "DESCRIPTION": (
                    "Place DialogTech Click-to-Agent calls; manage agents, queues and the "
                    "do-not-call list."
                ),
                "COMPONENT_SPLIT_REQUEST": True,
                "PREPROCESSING_HOOKS": ["clicktoagent.api.schema.only_clicktoagent_api"],
            }
        ),
        name="api-schema",
    ),
]
