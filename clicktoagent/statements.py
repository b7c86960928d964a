"""Hot statements written once per database from the models' metadata, and their rows
read back as the ORM reads them.

The ORM compiles a query every time it runs, which costs more than running it for the
small statements of every call (the directory lookup, the dispatcher's read and claim,
the safe-calling rules' lookups). Those statements are put together here from the
models' tables and columns (no name is typed by hand), every value a parameter, kept per
database alias; a row comes back as model instances through the fields' own converters
and ``Model.from_db``, as a queryset would give them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections
from django.db.models import Field, Model

# (model, alias in a statement) of every row a statement reads, in column order.
Parts = Sequence[tuple[type[Model], str]]
# (model, alias in a statement, field name) of each column a statement reads as values.
Columns = Sequence[tuple[type[Model], str, str]]
# Per column position: the converters the ORM applies to it, and the column expression.
Converters = dict[int, tuple[list[Any], Any]]


def field_of(model: type[Model], name: str) -> Field[Any, Any]:
    """The concrete field ``name`` of ``model``."""
    field = model._meta.get_field(name)
    assert isinstance(field, Field) and field.column
    return field


def column(using: str, model: type[Model], name: str) -> str:
    """The quoted column of ``model``'s field ``name``."""
    return connections[using].ops.quote_name(str(field_of(model, name).column))


def table(using: str, model: type[Model]) -> str:
    """The quoted table of ``model``."""
    return connections[using].ops.quote_name(model._meta.db_table)


def join(using: str, model: type[Model], alias: str, name: str, target: str) -> str:
    """``JOIN`` of the row that ``model``'s foreign key ``name`` (on ``alias``) points
    at, named ``target``."""
    field = field_of(model, name)
    related = field.related_model
    assert isinstance(related, type) and issubclass(related, Model)
    assert related._meta.pk is not None
    pk = column(using, related, related._meta.pk.name)
    return (
        f"JOIN {table(using, related)} {target} "
        f"ON {target}.{pk} = {alias}.{column(using, model, name)}"
    )


def select_list(using: str, parts: Parts) -> str:
    """``alias.column, ...`` of every concrete field of every part, in order."""
    return ", ".join(
        f"{alias}.{column(using, model, field.name)}"
        for model, alias in parts
        for field in model._meta.concrete_fields
    )


def prep(using: str, model: type[Model], name: str, value: Any) -> Any:
    """``value`` as the ORM sends it for ``model``'s field ``name`` (a time on SQLite:
    naive UTC text, as every row holds it, since lookups compare it as text)."""
    return field_of(model, name).get_db_prep_value(value, connections[using])


def _converters(using: str, columns: Columns) -> Converters:
    """What the ORM applies to each of ``columns`` when it reads them, by position."""
    compiler = columns[0][0]._default_manager.none().query.get_compiler(using)
    convert: Converters = compiler.get_converters(
        [field_of(model, name).get_col(alias) for model, alias, name in columns]
    )
    return convert


def _converted(using: str, row: Sequence[Any], convert: Converters) -> list[Any]:
    connection = connections[using]
    values = list(row)
    for position, (functions, expression) in convert.items():
        for function in functions:
            values[position] = function(values[position], expression, connection)
    return values


def instances(using: str, parts: Parts, values: Sequence[Any]) -> list[Model]:
    """One instance per part from a row of :func:`select_list`'s columns, converted."""
    made: list[Model] = []
    start = 0
    for model, _alias in parts:
        fields = model._meta.concrete_fields
        names = [field.attname for field in fields]
        made.append(model.from_db(using, names, values[start : start + len(fields)]))
        start += len(fields)
    return made


class Statement:
    """A statement written once per database alias by ``write`` (given the alias).

    ``parts``: it reads rows of :func:`select_list`'s columns, given back as instances
    (:meth:`fetch_one`). ``values``: it reads the columns of these fields, ``(model,
    alias, field name)`` each, given back converted (:meth:`fetch_values`). Neither: it
    reads nothing (:meth:`execute`).
    """

    def __init__(
        self, write: Callable[[str], str], *, parts: Parts = (), values: Columns = ()
    ) -> None:
        self.parts = parts
        self.values = values
        self._write = write
        self._prepared: dict[str, tuple[str, Converters]] = {}

    def prepared(self, using: str) -> tuple[str, Converters]:
        if using not in self._prepared:
            # The columns read: every concrete field of every part, or the values named.
            columns = self.values or [
                (model, alias, field.name)
                for model, alias in self.parts
                for field in model._meta.concrete_fields
            ]
            convert = _converters(using, columns) if columns else {}
            self._prepared[using] = (self._write(using), convert)
        return self._prepared[using]

    def fetch_one(self, params: Sequence[Any], *, using: str = "default") -> list[Model] | None:
        """Run the statement; the first row's instances, or None when there is none."""
        sql, convert = self.prepared(using)
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        return instances(using, self.parts, _converted(using, row, convert))

    def fetch_values(self, params: Sequence[Any], *, using: str = "default") -> list[list[Any]]:
        """Run the statement; every row's values, converted."""
        sql, convert = self.prepared(using)
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return [_converted(using, row, convert) for row in rows]

    def execute(self, params: Sequence[Any], *, using: str = "default") -> int:
        """Run a statement that reads no rows (an UPDATE); the rows it changed."""
        sql, _convert = self.prepared(using)
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            return int(cursor.rowcount)
