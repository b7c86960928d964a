"""``{% load clicktoagent %}``: the call button for a host project's own pages.

    {% clicktoagent_button contact %}                      the contact's ``phone`` field
    {% clicktoagent_button contact phone_field="mobile" %} another field of the contact
    {% clicktoagent_button phone="312-555-0123" %}         a number, no contact
    {% clicktoagent_button contact queue="12345" agent="98765" label="Call now" %}

Without ``agent`` the call rings the agent the logged-in user works as, in that agent's
first active queue. Users without the ``clicktoagent.place_call`` permission see nothing.
For a contact, the number is read from ``phone_field`` again when the button is clicked:
if it changed since the page was rendered nothing is dialled (the user reloads). An
explicit ``phone=`` is called as signed into the page. Buttons expire after
``CLICKTOAGENT["BUTTON_TOKEN_MAX_AGE"]`` seconds.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import reverse

from ..button.tokens import button_token
from ..models import PLACE_CALL_PERMISSION

register = template.Library()


@register.inclusion_tag("clicktoagent/button.html", takes_context=True)
def clicktoagent_button(
    context: template.Context,
    contact: Model | None = None,
    *,
    phone: str | None = None,
    phone_field: str = "phone",
    queue: str = "",
    agent: str = "",
    label: str = "Call",
) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or user is None or not user.has_perm(PLACE_CALL_PERMISSION):
        return {"show": False}
    # Read from the contact when clicked, unless the page gives the number itself.
    field = ""
    if phone is None:
        phone = str(getattr(contact, phone_field, "") or "") if contact is not None else ""
        field = phone_field
    content_type = ContentType.objects.get_for_model(contact) if contact is not None else None
    token = button_token(
        phone=phone,
        content_type_id=content_type.pk if content_type is not None else None,
        object_id=str(contact.pk) if contact is not None else "",
        queue_id=str(queue or ""),
        agent_id=str(agent or ""),
        phone_field=field,
    )
    return {
        "show": True,
        "phone": phone,
        "label": label,
        "url": reverse("clicktoagent:call"),
        "token": token,
        "csrf": get_token(request),
        "script_url": static("clicktoagent/button.js"),
    }
