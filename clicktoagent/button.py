"""The signed description of what a call button calls.

The template tag signs the number, the contact and the optional queue and agent into
the page, so the button endpoint calls exactly what the page showed and a visitor
cannot edit the page to ring another number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core import signing

SALT = "clicktoagent.button"


@dataclass(frozen=True)
class ButtonTarget:
    phone: str
    content_type_id: int | None
    object_id: str
    queue_id: str
    agent_id: str


def button_token(
    *, phone: str, content_type_id: int | None, object_id: str, queue_id: str, agent_id: str
) -> str:
    data = {"p": phone, "c": content_type_id, "o": object_id, "q": queue_id, "a": agent_id}
    return signing.dumps(data, salt=SALT, compress=True)


def button_target(token: str) -> ButtonTarget:
    """Read a button token; raise ``signing.BadSignature`` when it was not ours."""
    data: dict[str, Any] = signing.loads(token, salt=SALT)
    return ButtonTarget(
        phone=str(data.get("p") or ""),
        content_type_id=int(data["c"]) if data.get("c") else None,
        object_id=str(data.get("o") or ""),
        queue_id=str(data.get("q") or ""),
        agent_id=str(data.get("a") or ""),
    )
