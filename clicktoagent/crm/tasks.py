"""Background work of the CRM write-back, through Django's Tasks framework."""

from __future__ import annotations

from ..taskcompat import task


@task()
def write_back_call_attempt(writeback_id: int) -> str:
    """Log a finished attempt as a call activity on its CRM record (one try)."""
    from .services import crm_writeback_write

    return crm_writeback_write(writeback_id=writeback_id)
