"""Checking one call against the safe-calling rules that apply."""

from __future__ import annotations

from datetime import datetime

from ..models import Queue
from .result import CallCheck


def call_check(
    *,
    phone_to_call: str,
    queue: Queue,
    record: int,
    warning: int,
    contact_region: str = "",
    at: datetime | None = None,
    override: bool = False,
    exclude_attempt_id: int | None = None,
) -> CallCheck:
    """Check a call (``phone_to_call`` in E.164) at ``at`` (default now) against every
    rule in ``SAFE_CALLING_RULES``. ``override`` skips the time rules (they are listed in
    ``overridden``); ``exclude_attempt_id`` leaves that attempt out of the daily count
    (the attempt being checked again right before it is sent)."""
    raise NotImplementedError


def region_normalize(contact_region: str, *, phone_to_call: str) -> str:
    """A contact's state or province as given (``"FL"``, ``"fl"``, ``"US-FL"``, ``"Florida"``)
    -> its code in the number's country (``"US-FL"``); ``""`` for ``""``. ``ValueError``
    says what is wrong with one that names no state or province of that country."""
    raise NotImplementedError
