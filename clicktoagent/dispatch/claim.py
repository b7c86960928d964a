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


# Per database alias: the statement, and the converters of its columns by position
# (what the ORM applies to a row it reads: JSON decoding...).
_statements: dict[str, tuple[str, dict[int, tuple[list[Any], Any]]]] = {}


def _prepared(using: str) -> tuple[str, dict[int, tuple[list[Any], Any]]]:
    if using not in _statements:
        compiler = CallAttempt.objects.none().query.get_compiler(using)
        columns = [
            field.get_col(alias) for model, alias in _PARTS for field in model._meta.concrete_fields
        ]
        _statements[using] = (_statement(using), compiler.get_converters(columns))
    return _statements[using]


def call_attempt_claim_and_read(
    attempt_id: int, *, now: datetime, using: str = "default"
) -> CallAttempt | None:
    """Claim the ``pending`` attempt ``attempt_id`` (``dispatching``, ``dispatched_at``
    ``now``, one more try) and return it with its queue and agent; None when it was not
    ``pending`` (or does not exist)."""
    connection = connections[using]
    sql, converters = _prepared(using)
    with connection.cursor() as cursor:
        cursor.execute(sql, [Status.DISPATCHING, now, attempt_id, Status.PENDING])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for position, (functions, expression) in converters.items():
        for function in functions:
            values[position] = function(values[position], expression, connection)
    instances: list[Model] = []
    start = 0
    for model, _alias in _PARTS:
        fields = model._meta.concrete_fields
        names = [field.attname for field in fields]
        instances.append(model.from_db(using, names, values[start : start + len(fields)]))
        start += len(fields)
    attempt, queue, agent = instances
    assert isinstance(attempt, CallAttempt)
    attempt.queue = queue  # type: ignore[assignment]
    attempt.agent = agent  # type: ignore[assignment]
    return attempt


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
        assignments = ", ".join(f"{_column(using, CallAttempt, name)} = %s" for name in values)
        table = connection.ops.quote_name(CallAttempt._meta.db_table)
        sql = (
            f"UPDATE {table} SET {assignments} WHERE {condition} "  # noqa: S608
            f"AND {_column(using, CallAttempt, 'id')} = %s"
        )
        fields = [_field(CallAttempt, name) for name in values]
        _answerable[key] = (sql, fields, list(where_params))
    sql, fields, condition_params = _answerable[key]
    params = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *condition_params, attempt_id])
        return int(cursor.rowcount)
