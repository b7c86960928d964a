from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("clicktoagent/", include("clicktoagent.urls")),
    path("", include("config.demo.urls")),
]
