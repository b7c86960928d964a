"""The signed, expiring description of what a call button calls.

The template tag signs the contact, the optional queue and agent, and how to read the
number into the page, so a visitor cannot edit the page to ring another number. For a
contact the token names the contact's phone field and carries only a keyed digest of
the number the page showed: the number dialled is read from the contact when the button
is clicked, and a number changed since the page was rendered is refused. A button for a
bare number (no contact) carries the number itself. Every token expires after
``BUTTON_TOKEN_MAX_AGE`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.utils.crypto import constant_time_compare, salted_hmac

from ..conf import app_settings
from ..phone import normalize_phone

# Versioned: tokens of pages rendered before tokens expired are refused, not trusted.
SALT = "clicktoagent.button.v2"
DIGEST_SALT = "clicktoagent.button.phone"


class ButtonPhoneChangedError(Exception):
    """The contact's number is not the one the page showed when it was rendered."""


@dataclass(frozen=True)
class ButtonTarget:
    phone: str  # the number to call, for a button without a contact field
    phone_field: str  # the contact's field with the number, read when clicked
    phone_digest: str  # digest of the number the page showed (with phone_field)
    content_type_id: int | None
    object_id: str
    queue_id: str
    agent_id: str


def _phone_digest(phone: str) -> str:
    try:
        number = normalize_phone(phone)
    except ValidationError:
        number = phone.strip()  # not callable anyway: the service gives the reason
    return salted_hmac(DIGEST_SALT, number, algorithm="sha256").hexdigest()


def button_token(
    *,
    phone: str,
    content_type_id: int | None,
    object_id: str,
    queue_id: str,
    agent_id: str,
    phone_field: str = "",
) -> str:
    """Sign a button's target. With a contact and its ``phone_field`` the number is
    read from the contact when clicked; ``phone`` is only compared with it then."""
    data: dict[str, Any] = {"c": content_type_id, "o": object_id, "q": queue_id, "a": agent_id}
    if content_type_id is not None and phone_field:
        data["f"] = phone_field
        data["h"] = _phone_digest(phone)
    else:
        data["p"] = phone
    return signing.dumps(data, salt=SALT, compress=True)


def button_target(token: str) -> ButtonTarget:
    """Read a button token; raise ``signing.SignatureExpired`` when it is older than
    ``BUTTON_TOKEN_MAX_AGE``, ``signing.BadSignature`` when it was not ours."""
    data: dict[str, Any] = signing.loads(
        token, salt=SALT, max_age=timedelta(seconds=float(app_settings.BUTTON_TOKEN_MAX_AGE))
    )
    return ButtonTarget(
        phone=str(data.get("p") or ""),
        phone_field=str(data.get("f") or ""),
        phone_digest=str(data.get("h") or ""),
        content_type_id=int(data["c"]) if data.get("c") else None,
        object_id=str(data.get("o") or ""),
        queue_id=str(data.get("q") or ""),
        agent_id=str(data.get("a") or ""),
    )


def button_phone(target: ButtonTarget, contact: Model | None) -> str:
    """The number to call now: the contact's current number when the token names its
    field (``ButtonPhoneChangedError`` when it differs from the one the page showed),
    else the number in the token."""
    if not target.phone_field or contact is None:
        return target.phone
    current = str(getattr(contact, target.phone_field, "") or "")
    if not constant_time_compare(_phone_digest(current), target.phone_digest):
        raise ButtonPhoneChangedError
    return current
