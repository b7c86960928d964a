"""The floor project's views (and URLconf): the demo project's stack around the limit's
essential work, to tell what the frameworks cost from what the app adds.

``call_attempts``: Django with the demo project's middleware, a DRF view with its
authentication classes (session, token) and the app's ``CanPlaceCalls`` permission
(``user.has_perm("clicktoagent.place_call")``), the JSON body parsed by DRF, then the
limit's work (:func:`bench.limit.views.place_and_record`) and a DRF ``Response``.
``webhook``: a Django view behind the same middleware that verifies the Standard
Webhooks signature with the app's verifier, then the limit's INSERT and LPUSH.

A DRF-based endpoint doing the limit's work cannot be faster than ``call_attempts``; the
app can be compared with it as well as with the limit.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clicktoagent.api.permissions import CanPlaceCalls
from clicktoagent.webhooks.generic import standard_webhook

from .views import place_and_record, store_and_push


class CallAttempts(APIView):
    permission_classes = [permissions.IsAuthenticated, CanPlaceCalls]

    def post(self, request: Request) -> Response:
        data = request.data
        if not isinstance(data, dict):
            return Response({"detail": "A JSON object is expected."}, status=400)
        return Response(place_and_record(data), status=201)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    verifier = standard_webhook()
    if verifier is None:
        return JsonResponse({"detail": "No webhook secret."}, status=503)
    headers = {
        name: request.headers.get(name, "")
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    verifier.verify(request.body, headers, json_parse=False)
    event_id = store_and_push(request.body)
    return JsonResponse({"status": "received", "event_id": event_id})


urlpatterns = [
    path("clicktoagent/api/call-attempts/", CallAttempts.as_view()),
    path("clicktoagent/webhooks/generic/", webhook),
]
