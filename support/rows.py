"""Inserting a row and the rows that belong to it in one statement, on PostgreSQL.

A submission writes five tables (the application, its documents, its first event, its
code, its messages). Through the ORM that is a round trip per table inside a transaction,
and on PostgreSQL each one is a send and a receive on the event loop: B1 found the loop
spending a third of its time in those sends. Here they are one ``INSERT`` whose children
come from data-modifying ``WITH`` clauses that read the new parent's id: one round trip,
atomic without ``BEGIN`` and ``COMMIT``, on a pool whose plans are kept (``db.INSERTS``).
The check made before inserting (is there already
a row like this one?) is folded into the same statement as a ``WHERE NOT EXISTS``, so a
submission is one round trip in all, where it was a ``BEGIN``, a ``SELECT``, the
``INSERT`` and a ``COMMIT``: four sends and four waits on the event loop.

The rows are ordinary Tortoise model instances, and their values go through each field's
own ``to_db_value`` (defaults, ``auto_now_add``, enums, JSON), so what is stored is what
``Model.save`` would store. SQLite has no data-modifying ``WITH``, and its statements cost
no round trip (``sqlite_client``): there the rows are saved one table at a time, in a
savepoint of the next group commit (``sqlite_client.GroupCommit``), whose ``COMMIT`` is
what costs there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import groupby
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.fields.base import DatabaseDefault, Field
from tortoise.fields.relational import ForeignKeyFieldInstance
from tortoise.models import Model
from tortoise.transactions import in_transaction

from support import db
from support.sqlite_client import ImmediateSqliteClient

Guard = Mapping[str, object]
"""Field values of the parent's model; a list or tuple stands for any of its values."""


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


def _guard_sql(parent: Model, guard: Guard, one: Callable[[object], str]) -> str:
    """``EXISTS`` over the rows of the parent's table matching every value of ``guard``,
    each value as the field stores it; ``one`` adds a parameter and returns its
    placeholder."""
    meta = parent._meta
    terms = []
    for name, value in guard.items():
        field = meta.fields_map[name]
        column = _quoted(meta.fields_db_projection[name])
        if isinstance(value, list | tuple):
            terms.append(f"{column} = ANY({one([field.to_db_value(v, parent) for v in value])})")
        else:
            terms.append(f"{column} = {one(field.to_db_value(value, parent))}")
    return (f"EXISTS (SELECT 1 FROM {_quoted(meta.db_table)} "  # noqa: S608
            f"WHERE {' AND '.join(terms)})")


def statement(
    parent: Model, children: Sequence[Model], unless: Guard | None = None
) -> tuple[str, list[Any]]:
    """The PostgreSQL statement and its parameters; exposed for the tests."""
    params: list[Any] = []

    def placeholders(values: list[Any]) -> str:
        start = len(params)
        params.extend(values)
        return ", ".join(f"${start + i + 1}" for i in range(len(values)))

    def one(value: object) -> str:
        return placeholders([value])

    table = parent._meta.db_table
    pk = _quoted(parent._meta.db_pk_column)
    columns, values = _values(parent)
    # Only identifiers from the models' metadata (and the caller's guard columns) are put
    # into the text, quoted; every value is a parameter.
    source = f"SELECT {placeholders(values)}"
    if unless:
        source += f" WHERE NOT {_guard_sql(parent, unless, one)}"
    parts = [f"new_parent AS (INSERT INTO {_quoted(table)} "  # noqa: S608
             f"({', '.join(map(_quoted, columns))}) {source} RETURNING {pk})"]
    for number, child in enumerate(children):
        link_column = child._meta.fields_map[_link(child, parent)].source_field
        assert link_column is not None
        columns, values = _values(child, skip=link_column)
        parts.append(
            f"child_{number} AS (INSERT INTO {_quoted(child._meta.db_table)} "  # noqa: S608
            f"({_quoted(link_column)}, {', '.join(map(_quoted, columns))}) "
            f"SELECT {pk}, {placeholders(values)} FROM new_parent)")
    return f"WITH {', '.join(parts)} SELECT {pk} FROM new_parent", params  # noqa: S608


async def insert_with_children(
    parent: Model, children: Sequence[Model], unless: Guard | None = None
) -> bool:
    """Insert ``parent`` and then ``children``, new rows each with a foreign key to the
    parent's model left unset, all or nothing: in one statement on PostgreSQL; on SQLite
    in a savepoint of the next group commit (``sqlite_client.GroupCommit``), or of the
    caller's transaction when there is one.

    With ``unless``, nothing is inserted when a row of the parent's table matches it, and
    False is returned. Like any check-then-insert under READ COMMITTED, two concurrent
    inserts can both pass it; a unique constraint is what stops twins for certain.

    Sets the parent's id and the children's links; the children's own ids are not read
    back."""
    client = parent._meta.db
    if client.capabilities.dialect == "postgres":
        if not isinstance(client, TransactionalDBClient):  # else it must be the caller's
            client = db.inserts() or client
        sql, params = statement(parent, children, unless)
        _, returned = await client.execute_query(sql, params)
        if not returned:
            return False
        parent.pk = returned[0][parent._meta.db_pk_column]
        parent._saved_in_db = True
        for child in children:
            setattr(child, _link(child, parent), parent)
        return True
    if isinstance(client, ImmediateSqliteClient):  # not inside a transaction already
        return await client.group_commit().run(
            lambda connection: _insert_each(connection, parent, children, unless))
    async with in_transaction(client.connection_name) as connection:
        return await _insert_each(connection, parent, children, unless)


async def _insert_each(
    connection: BaseDBAsyncClient, parent: Model, children: Sequence[Model],
    unless: Guard | None,
) -> bool:
    """The rows one table at a time, inside the caller's transaction (SQLite)."""
    if unless and await type(parent).filter(**_filters(unless)).using_db(connection).exists():
        return False
    await parent.save(using_db=connection)
    for child in children:
        setattr(child, _link(child, parent), parent)
    for _, group in groupby(children, key=type):
        same = list(group)
        await type(same[0]).bulk_create(same, using_db=connection)
    return True


def _filters(guard: Guard) -> dict[str, object]:
    """``guard`` as the ORM's filter: a list means any of its values."""
    return {f"{name}__in" if isinstance(value, list | tuple) else name: value
            for name, value in guard.items()}
