from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import Contact


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/home.html", {"contacts": Contact.objects.all()})
