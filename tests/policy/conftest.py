"""Helpers of the safe-calling policy tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from clicktoagent.models import Queue
from clicktoagent.policy.checks import call_check
from clicktoagent.policy.result import CallCheck


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def open_queue(**fields: Any) -> Queue:
    """A queue, not saved (the rules only read its hours)."""
    return Queue(queue_id="q1", name="Sales", **fields)


def check(number: str, at: datetime, queue: Queue | None = None, **kwargs: Any) -> CallCheck:
    kwargs.setdefault("record", 0)
    kwargs.setdefault("warning", 0)
    return call_check(phone_to_call=number, queue=queue or open_queue(), at=at, **kwargs)


def rules_only(settings: Any, *codes: str, **more: Any) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "SAFE_CALLING_RULES": codes, **more}


@pytest.fixture
def only(settings: Any) -> Any:
    """``only("calling_hours")``: just these rules (no database needed for the time rules)."""
    return lambda *codes, **more: rules_only(settings, *codes, **more)
