"""Inserting a row and the rows that belong to it in one statement, on PostgreSQL.

A submission writes five tables (the application, its documents, its first event, its
code, its messages). Through the ORM that is a round trip per table inside a transaction,
and on PostgreSQL each one is a send and a receive on the event loop: B1 found the loop
spending a third of its time in those sends. Here they are one ``INSERT`` whose children
come from data-modifying ``WITH`` clauses that read the new parent's id: one round trip,
atomic without ``BEGIN`` and ``COMMIT``.

The rows are ordinary Tortoise model instances, and their values go through each field's
own ``to_db_value`` (defaults, ``auto_now_add``, enums, JSON), so what is stored is what
``Model.save`` would store. SQLite has no data-modifying ``WITH``, and its statements cost
no round trip (``sqlite_client``): there the rows are saved one table at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Any

from tortoise.fields.base import DatabaseDefault, Field
from tortoise.fields.relational import ForeignKeyFieldInstance
from tortoise.models import Model


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _link(child: Model, parent: Model) -> str:
    """The name of the child's field that points to the parent's model."""
    for name in child._meta.fk_fields | child._meta.o2o_fields:
        field = child._meta.fields_map[name]
        if isinstance(field, ForeignKeyFieldInstance) and field.related_model is type(parent):
            return name
    raise TypeError(f"{type(child).__name__} has no foreign key to {type(parent).__name__}")


def _values(row: Model, skip: str | None = None) -> tuple[list[str], list[Any]]:
    """Columns and database values of a new row, as Tortoise's executor computes them;
    ``skip`` is the link column, filled from the parent's id instead."""
    columns, values = [], []
    for name, column in row._meta.fields_db_projection.items():
        field: Field[Any] = row._meta.fields_map[name]
        value = getattr(row, name)
        if field.generated or column == skip or isinstance(value, DatabaseDefault):
            continue  # the database fills these
        columns.append(column)
        values.append(field.to_db_value(value, row))
    return columns, values


def statement(parent: Model, children: Sequence[Model]) -> tuple[str, list[Any]]:
    """The PostgreSQL statement and its parameters; exposed for the tests."""
    params: list[Any] = []

    def placeholders(values: list[Any]) -> str:
        start = len(params)
        params.extend(values)
        return ", ".join(f"${start + i + 1}" for i in range(len(values)))

    pk = _quoted(parent._meta.db_pk_column)
    columns, values = _values(parent)
    # Only identifiers from the models' metadata are put into the text (quoted); every
    # value is a parameter.
    parts = [f"new_parent AS (INSERT INTO {_quoted(parent._meta.db_table)} "  # noqa: S608
             f"({', '.join(map(_quoted, columns))}) VALUES ({placeholders(values)}) "
             f"RETURNING {pk})"]
    for number, child in enumerate(children):
        link_column = child._meta.fields_map[_link(child, parent)].source_field
        assert link_column is not None
        columns, values = _values(child, skip=link_column)
        parts.append(
            f"child_{number} AS (INSERT INTO {_quoted(child._meta.db_table)} "  # noqa: S608
            f"({_quoted(link_column)}, {', '.join(map(_quoted, columns))}) "
            f"SELECT {pk}, {placeholders(values)} FROM new_parent)")
    return f"WITH {', '.join(parts)} SELECT {pk} FROM new_parent", params  # noqa: S608


async def insert_with_children(parent: Model, children: Sequence[Model]) -> None:
    """Insert ``parent`` and then ``children``, new rows each with a foreign key to the
    parent's model left unset: in one statement on PostgreSQL, in one per model elsewhere.
    Run it inside the caller's transaction where there is one. Sets the parent's id and
    the children's links; the children's own ids are not read back."""
    client = parent._meta.db
    if client.capabilities.dialect != "postgres":
        await parent.save(using_db=client)
        for child in children:
            setattr(child, _link(child, parent), parent)
        for _, group in groupby(children, key=type):
            same = list(group)
            await type(same[0]).bulk_create(same, using_db=client)
        return
    sql, params = statement(parent, children)
    _, returned = await client.execute_query(sql, params)
    parent.pk = returned[0][parent._meta.db_pk_column]
    parent._saved_in_db = True
    for child in children:
        setattr(child, _link(child, parent), parent)
