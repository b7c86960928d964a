"""One writer at a time per number, so that concurrent attempts cannot all pass the cap."""

from __future__ import annotations

import hashlib

from django.db import connection


def number_lock(phone_to_call: str) -> None:
    """Hold a lock on ``phone_to_call`` until the current transaction ends.

    Counting a number's recent attempts and storing a new one happen under it, so two
    requests for the same number cannot both see room under ``daily_cap``. PostgreSQL:
    a transaction-level advisory lock. SQLite runs one writer at a time already (use
    ``"transaction_mode": "IMMEDIATE"`` in its OPTIONS so the count happens under it);
    other databases take no lock here.
    """
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"clicktoagent:number:{phone_to_call}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
