from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="demo-home"),
    path("contacts/<int:pk>/", views.contact_detail, name="demo-contact"),
]
