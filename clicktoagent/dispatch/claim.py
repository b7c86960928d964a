"""The two statements of every dispatch, written once instead of built by the ORM per
attempt: claiming an attempt and reading it with its queue and agent (PostgreSQL), and
recording an answer.

The claim is the same conditional UPDATE as the ORM's (``WHERE status = 'pending'``), so
it keeps the at-most-once guarantee; ``RETURNING`` gives the row as the claim left it,
and the join its queue and agent, converted as the ORM converts them. It serves the
common case, when nothing has to look at the attempt before it is claimed (see
``services.call_attempt_send``). The answer is recorded by an UPDATE conditional on
:data:`ANSWERABLE`, whose SQL is compiled once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connections
from django.db.models import Field, Model, Q

from ..models import Agent, CallAttempt, Queue
from ..statements import Parts, Statement, column, field_of, join, prep, select_list, table

Status = CallAttempt.Status
# An answer that arrives after the reconciler gave up on the attempt still wins.
ANSWERABLE = Q(status__in=[Status.DISPATCHING, Status.UNKNOWN], sid="")

# (model, alias in the statement) of every row the statement reads, attempt first.
_PARTS: Parts = ((CallAttempt, "claimed"), (Queue, "q"), (Agent, "a"))


def claim_and_read_supported(using: str = "default") -> bool:
    """Whether the database can claim and read in one statement (a data-modifying
    ``WITH``: PostgreSQL)."""
    return connections[using].vendor == "postgresql"


def _claim(using: str) -> str:
    """The claim: ``pending`` -> ``dispatching`` now, one more try."""
    status, tries, pk = (column(using, CallAttempt, name) for name in ("status", "tries", "id"))
    # Only names from the models' metadata are put in; every value is a parameter.
    return (
        f"UPDATE {table(using, CallAttempt)} "  # noqa: S608
        f"SET {status} = %s, {column(using, CallAttempt, 'dispatched_at')} = %s, "
        f"{column(using, CallAttempt, 'next_try_at')} = NULL, {tries} = {tries} + 1 "
        f"WHERE {pk} = %s AND {status} = %s"
    )


def _with_queue_and_agent(using: str, source: str) -> str:
    """The columns of :data:`_PARTS` from ``source`` (the attempts, named ``claimed``)
    joined to each one's queue and agent."""
    return (
        f"SELECT {select_list(using, _PARTS)} FROM {source} "  # noqa: S608
        f"{join(using, CallAttempt, 'claimed', 'queue', 'q')} "
        f"{join(using, CallAttempt, 'claimed', 'agent', 'a')}"
    )


_CLAIM = Statement(_claim)
_CLAIM_AND_READ = Statement(
    lambda using: (
        f"WITH claimed AS ({_claim(using)} RETURNING *) {_with_queue_and_agent(using, 'claimed')}"
    ),
    parts=_PARTS,
)
_READ = Statement(
    lambda using: (
        f"{_with_queue_and_agent(using, table(using, CallAttempt) + ' claimed')} "
        f"WHERE claimed.{column(using, CallAttempt, 'id')} = %s"
    ),
    parts=_PARTS,
)


def _attempt_of(row: list[Model]) -> CallAttempt:
    attempt, queue, agent = row
    assert isinstance(attempt, CallAttempt)
    attempt.queue = queue  # type: ignore[assignment]
    attempt.agent = agent  # type: ignore[assignment]
    return attempt


def call_attempt_read(attempt_id: int, *, using: str = "default") -> CallAttempt:
    """The attempt ``attempt_id`` with its queue and agent, in one statement
    (``CallAttempt.DoesNotExist`` when there is none)."""
    row = _READ.fetch_one([attempt_id], using=using)
    if row is None:
        raise CallAttempt.DoesNotExist(f"No call attempt {attempt_id}.")
    return _attempt_of(row)


def call_attempt_claim(attempt_id: int, *, now: datetime, using: str = "default") -> bool:
    """Claim the ``pending`` attempt ``attempt_id`` (``dispatching``, ``dispatched_at``
    ``now``, one more try); whether this call claimed it."""
    return _CLAIM.execute(_claim_params(attempt_id, now, using), using=using) == 1


def _claim_params(attempt_id: int, now: datetime, using: str) -> list[Any]:
    stamp = prep(using, CallAttempt, "dispatched_at", now)
    return [Status.DISPATCHING, stamp, attempt_id, Status.PENDING]


def call_attempt_claim_and_read(
    attempt_id: int, *, now: datetime, using: str = "default"
) -> CallAttempt | None:
    """Claim the ``pending`` attempt ``attempt_id`` as :func:`call_attempt_claim` does
    and return it with its queue and agent; None when it was not ``pending`` (or does
    not exist). PostgreSQL only (:func:`claim_and_read_supported`)."""
    row = _CLAIM_AND_READ.fetch_one(_claim_params(attempt_id, now, using), using=using)
    return None if row is None else _attempt_of(row)


# Per database alias and the names of the values set (a handful of combinations).
_answerable: dict[tuple[str, tuple[str, ...]], tuple[str, list[Field[Any, Any]], list[Any]]] = {}


def call_attempt_update_answerable(
    attempt_id: int, values: dict[str, Any], *, using: str = "default"
) -> int:
    """``UPDATE ... SET values WHERE pk = attempt_id AND`` :data:`ANSWERABLE`, as
    ``QuerySet.update`` would (each value prepared by its field); the rows changed."""
    connection = connections[using]
    key = (using, tuple(values))
    if key not in _answerable:
        query = CallAttempt.objects.filter(ANSWERABLE).query
        condition, where_params = query.where.as_sql(query.get_compiler(using), connection)
        assignments = ", ".join(f"{column(using, CallAttempt, name)} = %s" for name in values)
        sql = (
            f"UPDATE {table(using, CallAttempt)} SET {assignments} "  # noqa: S608
            f"WHERE {condition} AND {column(using, CallAttempt, 'id')} = %s"
        )
        fields = [field_of(CallAttempt, name) for name in values]
        _answerable[key] = (sql, fields, list(where_params))
    sql, fields, condition_params = _answerable[key]
    params = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *condition_params, attempt_id])
        return int(cursor.rowcount)
