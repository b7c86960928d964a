from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from .models import Contact


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/home.html", {"contacts": Contact.objects.all()})


@login_required
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk)
    return render(request, "demo/contact_detail.html", {"contact": contact})
