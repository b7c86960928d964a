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

Status = CallAttempt.Status
# An answer that arrives after the reconciler gave up on the attempt still wins.
ANSWERABLE = Q(status__in=[Status.DISPATCHING, Status.UNKNOWN], sid="")

# (model, alias in the statement) of every row the statement reads, attempt first.
_PARTS: tuple[tuple[type[Model], str], ...] = (
    (CallAttempt, "claimed"),
    (Queue, "q"),
    (Agent, "a"),
)


def claim_and_read_supported(using: str = "default") -> bool:
    """Whether the database can claim and read in one statement (a data-modifying
    ``WITH``: PostgreSQL)."""
    return connections[using].vendor == "postgresql"


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, Field) and field.column
    return field


def _column(using: str, model: type[Model], name: str) -> str:
    return connections[using].ops.quote_name(str(_field(model, name).column))


def _statement(using: str) -> str:
    quote = connections[using].ops.quote_name

    def column(model: type[Model], name: str) -> str:
        return _column(using, model, name)

    status, tries, pk = (column(CallAttempt, name) for name in ("status", "tries", "id"))
    columns = ", ".join(
        f"{alias}.{column(model, field.name)}"
        for model, alias in _PARTS
        for field in model._meta.concrete_fields
    )
    # Only names from the models' metadata are put in; every value is a parameter.
    return (
        f"WITH claimed AS (UPDATE {quote(CallAttempt._meta.db_table)} "  # noqa: S608
        f"SET {status} = %s, {column(CallAttempt, 'dispatched_at')} = %s, "
        f"{column(CallAttempt, 'next_try_at')} = NULL, {tries} = {tries} + 1 "
        f"WHERE {pk} = %s AND {status} = %s RETURNING *) "
        f"SELECT {columns} FROM claimed "
        f"JOIN {quote(Queue._meta.db_table)} q "
        f"ON q.{column(Queue, 'id')} = claimed.{column(CallAttempt, 'queue')} "
        f"JOIN {quote(Agent._meta.db_table)} a "
        f"ON a.{column(Agent, 'id')} = claimed.{column(CallAttempt, 'agent')}"
    )


_statements: dict[str, str] = {}


def call_attempt_claim_and_read(
    attempt_id: int, *, now: datetime, using: str = "default"
) -> CallAttempt | None:
    """Claim the ``pending`` attempt ``attempt_id`` (``dispatching``, ``dispatched_at``
    ``now``, one more try) and return it with its queue and agent; None when it was not
    ``pending`` (or does not exist)."""
    connection = connections[using]
    sql = _statements.get(using) or _statements.setdefault(using, _statement(using))
    with connection.cursor() as cursor:
        cursor.execute(sql, [Status.DISPATCHING, now, attempt_id, Status.PENDING])
        row = cursor.fetchone()
    if row is None:
        return None
    compiler = CallAttempt.objects.none().query.get_compiler(using)
    instances: list[Model] = []
    start = 0
    for model, alias in _PARTS:
        fields = model._meta.concrete_fields
        values: list[Any] = list(row[start : start + len(fields)])
        start += len(fields)
        converters = compiler.get_converters([field.get_col(alias) for field in fields])
        if converters:
            values = list(next(compiler.apply_converters([values], converters)))
        instances.append(model.from_db(using, [field.attname for field in fields], values))
    attempt, queue, agent = instances
    assert isinstance(attempt, CallAttempt)
    attempt.queue = queue  # type: ignore[assignment]
    attempt.agent = agent  # type: ignore[assignment]
    return attempt


_answerable: dict[str, tuple[str, list[Any]]] = {}


def call_attempt_update_answerable(
    attempt_id: int, values: dict[str, Any], *, using: str = "default"
) -> int:
    """``UPDATE ... SET values WHERE pk = attempt_id AND`` :data:`ANSWERABLE`, as
    ``QuerySet.update`` would (each value prepared by its field); the rows changed."""
    connection = connections[using]
    if using not in _answerable:
        query = CallAttempt.objects.filter(ANSWERABLE).query
        condition, condition_params = query.where.as_sql(query.get_compiler(using), connection)
        _answerable[using] = (condition, list(condition_params))
    where, where_params = _answerable[using]
    assignments, params = [], []
    for name, value in values.items():
        field = _field(CallAttempt, name)
        assignments.append(f"{_column(using, CallAttempt, name)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(CallAttempt._meta.db_table)} SET {', '.join(assignments)} "  # noqa: S608
        f"WHERE {where} AND {_column(using, CallAttempt, 'id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *where_params, attempt_id])
        return int(cursor.rowcount)
