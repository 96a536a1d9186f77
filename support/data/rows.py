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
no round trip (``sqlite_client``): there each row is its own ``INSERT``, the guard folded
into the parent's the same way, in a savepoint of the next group commit
(``sqlite_client.GroupCommit``), whose ``COMMIT`` is what costs there. On both, each
text is built once per shape of rows.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from itertools import count
from typing import Any, NamedTuple

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.fields.base import DatabaseDefault, Field
from tortoise.fields.relational import ForeignKeyFieldInstance
from tortoise.models import Model
from tortoise.transactions import in_transaction

from support.data import db
from support.data.sqlite_client import ImmediateSqliteClient

Guard = Mapping[str, object]
"""Field values of the parent's model; a list or tuple stands for any of its values."""


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@functools.cache
def _link(child: type[Model], parent: type[Model]) -> tuple[str, str]:
    """The child's field that points to the parent's model, and its column: the same for
    every row of the two models, so worked out once."""
    for name in child._meta.fk_fields | child._meta.o2o_fields:
        field = child._meta.fields_map[name]
        if isinstance(field, ForeignKeyFieldInstance) and field.related_model is parent:
            assert field.source_field is not None
            return name, field.source_field
    raise TypeError(f"{child.__name__} has no foreign key to {parent.__name__}")


@functools.cache
def _stored(model: type[Model]) -> tuple[tuple[str, str, Field[Any]], ...]:
    """Name, column and field of each column the database does not generate: the same for
    every row of a model, so worked out once (``statement`` runs on every submission)."""
    meta = model._meta
    return tuple((name, column, meta.fields_map[name])
                 for name, column in meta.fields_db_projection.items()
                 if not meta.fields_map[name].generated)


def _values(row: Model, skip: str | None = None) -> tuple[tuple[str, ...], list[Any]]:
    """Columns and database values of a new row, as Tortoise's executor computes them;
    ``skip`` is the link column, filled from the parent's id instead."""
    columns, values = [], []
    for name, column, field in _stored(type(row)):
        value = getattr(row, name)
        if column == skip or isinstance(value, DatabaseDefault):
            continue  # the database fills these
        columns.append(column)
        values.append(field.to_db_value(value, row))
    return tuple(columns), values


class _Table(NamedTuple):
    """A table's part of a statement's text: its name, its key column (the parent) or its
    link column (a child), and the columns given values."""

    name: str
    key: str
    columns: tuple[str, ...]


class _Guard(NamedTuple):
    """The guard's part: its table, and each column with whether it takes a list."""

    table: str
    terms: tuple[tuple[str, bool], ...]


@functools.lru_cache(maxsize=256)
def _text(parent: _Table, guard: _Guard | None, children: tuple[_Table, ...]) -> str:
    """The statement for rows of this shape, numbered ``$1``... in the order ``statement``
    lists the parameters. A submission writes the same shape every time: built once
    (B1: building it was 3% of a submission's CPU)."""
    table, pk, columns = parent
    counter = count(1)

    def placeholders(count: int) -> str:
        return ", ".join(f"${next(counter)}" for _ in range(count))

    # Only identifiers from the models' metadata (and the caller's guard columns) are put
    # into the text, quoted; every value is a parameter.
    source = f"SELECT {placeholders(len(columns))}"
    if guard:
        conditions = " AND ".join(
            f"{_quoted(column)} = ANY({placeholders(1)})" if many
            else f"{_quoted(column)} = {placeholders(1)}"
            for column, many in guard.terms)
        source += (f" WHERE NOT EXISTS (SELECT 1 FROM {_quoted(guard.table)} "  # noqa: S608
                   f"WHERE {conditions})")
    parts = [f"new_parent AS (INSERT INTO {_quoted(table)} "  # noqa: S608
             f"({', '.join(map(_quoted, columns))}) {source} RETURNING {_quoted(pk)})"]
    for number, (child_table, link_column, child_columns) in enumerate(children):
        parts.append(
            f"child_{number} AS (INSERT INTO {_quoted(child_table)} "  # noqa: S608
            f"({_quoted(link_column)}, {', '.join(map(_quoted, child_columns))}) "
            f"SELECT {_quoted(pk)}, {placeholders(len(child_columns))} FROM new_parent)")
    return f"WITH {', '.join(parts)} SELECT {_quoted(pk)} FROM new_parent"  # noqa: S608


class _Shaped(NamedTuple):
    """Rows as their statements need them: each table's part of the text, and values."""

    parent: _Table
    values: list[Any]
    guard: _Guard | None
    guard_values: list[Any]  # a list stands for any of its values
    children: tuple[_Table, ...]
    child_values: list[list[Any]]


def _shaped(parent: Model, children: Sequence[Model], unless: Guard | None) -> _Shaped:
    meta = parent._meta
    columns, values = _values(parent)
    guard, guard_values = None, []
    if unless:
        terms: list[tuple[str, bool]] = []
        for name, value in unless.items():
            field = meta.fields_map[name]
            if isinstance(value, list | tuple):
                guard_values.append([field.to_db_value(v, parent) for v in value])
            else:
                guard_values.append(field.to_db_value(value, parent))
            terms.append((meta.fields_db_projection[name], isinstance(value, list | tuple)))
        guard = _Guard(meta.db_table, tuple(terms))
    shapes, child_values = [], []
    for child in children:
        _, link_column = _link(type(child), type(parent))
        child_columns, row = _values(child, skip=link_column)
        shapes.append(_Table(child._meta.db_table, link_column, child_columns))
        child_values.append(row)
    return _Shaped(_Table(meta.db_table, meta.db_pk_column, columns), values, guard,
                   guard_values, tuple(shapes), child_values)


def statement(
    parent: Model, children: Sequence[Model], unless: Guard | None = None
) -> tuple[str, list[Any]]:
    """The PostgreSQL statement and its parameters; exposed for the tests."""
    shaped = _shaped(parent, children, unless)
    params = [*shaped.values, *shaped.guard_values]
    for row in shaped.child_values:
        params.extend(row)
    return _text(shaped.parent, shaped.guard, shaped.children), params


@functools.lru_cache(maxsize=256)
def _sqlite_texts(
    parent: _Table, guard: _Guard | None, children: tuple[_Table, ...]
) -> tuple[str, tuple[str, ...]]:
    """SQLite's statements for rows of this shape: the parent's ``INSERT`` (its guard a
    ``WHERE NOT EXISTS``, a list as one JSON parameter, so the text does not depend on its
    length), then one ``INSERT`` per child, given the parent's id first."""
    table, pk, columns = parent
    source = f"SELECT {', '.join('?' * len(columns))}"
    if guard:
        conditions = " AND ".join(
            f"{_quoted(column)} IN (SELECT value FROM json_each(?))" if many  # noqa: S608
            else f"{_quoted(column)} = ?"
            for column, many in guard.terms)
        source += (f" WHERE NOT EXISTS (SELECT 1 FROM {_quoted(guard.table)} "  # noqa: S608
                   f"WHERE {conditions})")
    parent_text = (f"INSERT INTO {_quoted(table)} ({', '.join(map(_quoted, columns))}) "  # noqa: S608
                   f"{source} RETURNING {_quoted(pk)}")
    return parent_text, tuple(
        f"INSERT INTO {_quoted(name)} ({_quoted(link)}, {', '.join(map(_quoted, cols))}) "  # noqa: S608
        f"VALUES ({', '.join('?' * (len(cols) + 1))})"
        for name, link, cols in children)


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
        _adopt(parent, children, returned[0][parent._meta.db_pk_column])
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
    """The rows a statement each, inside the caller's transaction (SQLite). Their texts are
    built once per shape, as on PostgreSQL: Tortoise's ``save`` and ``bulk_create`` built
    theirs on every call (B1: half of a submission's ORM time on SQLite)."""
    shaped = _shaped(parent, children, unless)
    parent_text, child_texts = _sqlite_texts(shaped.parent, shaped.guard, shaped.children)
    guard_values = [json.dumps(value) if isinstance(value, list) else value
                    for value in shaped.guard_values]
    _, returned = await connection.execute_query(parent_text, [*shaped.values, *guard_values])
    if not returned:
        return False
    _adopt(parent, children, returned[0][parent._meta.db_pk_column])
    for text, values in zip(child_texts, shaped.child_values, strict=True):
        await connection.execute_query(text, [parent.pk, *values])
    return True


def _adopt(parent: Model, children: Sequence[Model], pk: object) -> None:
    """The parent is saved under ``pk``; its children point to it."""
    parent.pk = pk
    parent._saved_in_db = True
    for child in children:
        setattr(child, _link(type(child), type(parent))[0], parent)


@functools.cache
def _update_text(model: type[Model], names: tuple[str, ...], dialect: str) -> str:
    """``UPDATE`` of these fields by primary key, one text per model, fields and database."""
    meta = model._meta
    columns = [meta.fields_db_projection[name] for name in names]
    def mark(number: int) -> str:
        return f"${number}" if dialect == "postgres" else "?"

    sets = ", ".join(f"{_quoted(column)} = {mark(n)}" for n, column in enumerate(columns, 1))
    key = _quoted(meta.db_pk_column)
    return f"UPDATE {_quoted(meta.db_table)} SET {sets} WHERE {key} = {mark(len(columns) + 1)}"  # noqa: S608


async def update_each(rows: Sequence[Model], names: tuple[str, ...]) -> None:
    """Each row's ``names`` written, with one statement text run for every row
    (``executemany``). Tortoise's ``bulk_update`` builds a ``CASE`` per field per row
    through pypika on every call: marking a batch of sent messages that way was a third of
    the delivery worker's CPU."""
    if not rows:
        return
    model = type(rows[0])
    client = model._meta.db
    fields = [model._meta.fields_map[name] for name in names]
    text = _update_text(model, names, client.capabilities.dialect)
    values = [[field.to_db_value(getattr(row, name), row)
               for name, field in zip(names, fields, strict=True)] + [row.pk] for row in rows]
    await client.execute_many(text, values)
