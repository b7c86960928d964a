"""The least a placed call needs from DialogTech, shared by the limit view and the limit
worker: one GET on a kept session, the XML parsed with lxml."""

from __future__ import annotations

import requests
from lxml import etree

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def place_call(
    session: requests.Session,
    base_url: str,
    credentials: dict[str, str],
    *,
    queue_id: str,
    agent_id: str,
    phone: str,
) -> tuple[str, str, str]:
    """``(status, sid, result)`` of one Click-to-Agent request."""
    response = session.get(
        base_url,
        params={
            "action": "clickto.agent",
            **credentials,
            "queue_id": queue_id,
            "agent_id": agent_id,
            "phone_to_call": phone,
            "record": "0",
            "warning": "1",
        },
        timeout=(5, 20),
        allow_redirects=False,
    )
    root = etree.fromstring(response.content, parser=_PARSER)
    result = root.findtext("result") or ""
    status = "placed" if result == "success" else "failed"
    return status, root.findtext("sid") or "", result
