"""Tortoise's SQLite client, changed in two ways that bench/b1_submit.py measured.

1. Write transactions take the write lock first (``BEGIN IMMEDIATE``). Tortoise opens them
   with a plain, deferred ``BEGIN``; a deferred transaction that reads and then writes
   cannot upgrade its snapshot once another *process* (``support worker`` beside the web
   app) has written in between, and SQLite answers "database is locked" at once. Under
   load that failed a third of submissions, some after their commit.

2. Statements run on the event loop's thread instead of aiosqlite's helper thread.
   SQLite is a library in this process: a statement takes tens of microseconds, but the
   hop to aiosqlite's thread and back costs two turns of a busy event loop, and Tortoise
   holds its one connection's lock across every hop of a transaction. Under 16 concurrent
   submissions the submit transaction (nine hops) held that lock 7 ms of every 8, and
   every other request queued behind it.

   Because a statement now blocks the loop while it runs, SQLite must never wait inside
   it: the busy timeout is zero, and a "database is locked" answer (another process holds
   the write lock) is retried here with ``asyncio.sleep``, for up to ``BUSY_TIMEOUT``
   seconds, as SQLite's own busy handler would have done on the helper thread.

3. Submissions are committed in groups (``GroupCommit``): the write transactions of the
   requests that reach it while the last group commits go into one SQLite transaction,
   each in its own savepoint, and that one ``COMMIT`` runs in a thread. B1 found the
   ``COMMIT`` (an fsync) holding the event loop 1 ms on average and, with ``support
   worker`` writing beside it, up to 180 ms now and then, stalling every request in the
   process. Off the loop, the requests go on being read and checked meanwhile, and one
   fsync serves all of the next group; no request is answered before its group's
   ``COMMIT`` has returned, so durability is unchanged.

4. Long work is the exception to point 2 (``long_statements``). Statements run inline never
   give the loop a turn, not even between one another: a job of many statements (the queue
   export's keyset batches, the report rollup, a retention purge) held it from its first
   statement to its last. B6 measured it at 200,000 queued applications: while
   ``/review/queue.csv`` streamed the tab (13.6 s), the applicant's form waited for the
   whole export; the rollup's first run held the loop 6.1 s, a purge of 5,000
   applications 2.3 s. Inside a ``long_statements()`` block each statement goes to a
   thread instead: a read outside a transaction on a second, read-only connection (WAL
   lets it read while the main one writes, so submissions do not queue behind an export
   for Tortoise's connection lock), anything else on the main connection (whose lock
   Tortoise holds as always). Each statement then waits for its thread, so the loop
   serves other requests during and between them; what still holds it is the Python
   between two statements (Tortoise turning a batch's rows into values: 40-60 ms for
   1,000 export rows); the form's p99 during the export fell to 36 ms. Submissions never
   enter such a block: their short statements stay inline, where a thread hop would cost
   more than the statement (B1).

Selected by ``support.data.db.tortoise_config`` for every ``sqlite://`` URL. PostgreSQL is
unaffected (asyncpg is already asynchronous, and each transaction has its own connection):
there ``long_statements()`` changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from tortoise.backends.base.client import (
    NestedTransactionContext,
    TransactionalDBClient,
    TransactionContext,
)
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError

T = TypeVar("T")
BUSY_TIMEOUT = 5.0  # seconds, as sqlite3.connect's default
_LONG: ContextVar[bool] = ContextVar("support_sqlite_long_statements", default=False)


@contextlib.contextmanager
def long_statements() -> Iterator[None]:
    """The statements sent in this block may be long: on SQLite each runs in a thread, and
    a read outside a transaction on a read-only connection of its own (the module's
    docstring, point 4). For background work and bulk reads, never for a request's short
    statements, which a thread hop would only slow down (B1). On PostgreSQL, nothing
    changes. In an async generator, keep the block between two ``yield``s."""
    token = _LONG.set(True)
    try:
        yield
    finally:
        _LONG.reset(token)


async def _patiently(action: Callable[[], T], *, in_thread: bool = False) -> T:
    """Run ``action``; while another process holds the write lock, wait and try again.
    A statement refused as busy has done nothing, so running it again is safe."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    delay = 0.001
    while True:
        try:
            return await asyncio.to_thread(action) if in_thread else action()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
        await asyncio.sleep(delay)
        # The worker's write transactions hold the lock a millisecond or two; a longer wait
        # leaves it free while every other request queues behind this one (B1, SQLite:
        # capped at 50 ms, p99 134-153 ms; at 4 ms, 120-125 ms).
        delay = min(delay * 2, 0.004)


class _Cursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """The part of ``aiosqlite.Connection`` that Tortoise's client uses, run inline (in a
    thread inside ``long_statements``, or always if ``in_thread``)."""

    def __init__(self, conn: sqlite3.Connection, *, in_thread: bool = False) -> None:
        self._conn = conn
        self._in_thread = in_thread

    def _run(self, action: Callable[[], T]) -> Awaitable[T]:
        return _patiently(action, in_thread=self._in_thread or _LONG.get())

    @property
    def total_changes(self) -> int:
        return self._conn.total_changes

    async def execute(self, sql: str, parameters: Iterable[Any] | None = ()) -> _Cursor:
        return _Cursor(await self._run(lambda: self._conn.execute(sql, tuple(parameters or ()))))

    async def execute_insert(self, sql: str, parameters: Iterable[Any] | None = ()) -> tuple[int]:
        cursor = await self._run(lambda: self._conn.execute(sql, tuple(parameters or ())))
        rowid = cursor.lastrowid
        cursor.close()
        return (int(rowid or 0),)

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] | None = ()) -> list[Any]:
        return await self._run(lambda: self._conn.execute(sql, tuple(parameters or ())).fetchall())

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> None:
        rows = [tuple(row) for row in parameters]
        await self._run(lambda: self._conn.executemany(sql, rows))

    async def executescript(self, script: str) -> None:
        await self._run(lambda: self._conn.executescript(script))

    async def commit(self, *, in_thread: bool = False) -> None:
        await _patiently(self._conn.commit,
                         in_thread=in_thread or self._in_thread or _LONG.get())

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc

    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(ImmediateTransactionWrapper(self))


Work = Callable[[TransactionalDBClient], Awaitable[T]]


class GroupCommit:
    """Runs units of work from many tasks in one SQLite transaction, one savepoint each,
    and commits them together in a thread (see the module's docstring, point 3).

    A unit that raises is rolled back to its savepoint and gets its own exception; the
    others go on. A ``COMMIT`` that fails fails every unit of its group, none of which is
    then stored. The client's lock is held from ``BEGIN`` to the end of ``COMMIT``, as for
    any transaction, so no other query sees a group before it is committed."""

    def __init__(self, client: ImmediateSqliteClient) -> None:
        self._client = client
        self._waiting: list[tuple[Work[Any], asyncio.Future[Any]]] = []
        self._driver: asyncio.Task[None] | None = None
        self.groups = 0  # committed so far: for the tests and the curious

    async def run(self, work: Work[T]) -> T:
        """Run ``work`` with the group's connection; return once its group is committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((work, future))
        if self._driver is None:
            self._driver = asyncio.create_task(self._drive())
        return await future

    async def _drive(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                try:
                    await self._commit_group(group)
                except Exception as exc:  # noqa: BLE001 - it is every unit's answer
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
        except BaseException:  # cancelled (shutdown): nobody is left to run the rest
            for _, future in self._waiting:
                future.cancel()
            self._waiting = []
            raise
        finally:
            self._driver = None

    async def _commit_group(self, group: list[tuple[Work[Any], asyncio.Future[Any]]]) -> None:
        client = self._client
        done: list[tuple[asyncio.Future[Any], Any]] = []
        async with client._lock:
            await client.create_connection(with_db=True)  # Tortoise connects on first use
            connection: InlineConnection = client._connection  # type: ignore[assignment]
            group_transaction = ImmediateTransactionWrapper(client)
            token = get_connections().set(client.connection_name, group_transaction)
            try:
                await group_transaction.begin()
                for work, future in group:
                    if future.cancelled():
                        continue
                    try:
                        async with group_transaction._in_transaction() as unit:  # a savepoint
                            value = await work(unit)
                    except Exception as exc:  # noqa: BLE001 - it is this unit's answer
                        if not future.done():  # its caller may have gone meanwhile
                            future.set_exception(exc)
                        continue
                    done.append((future, value))
                await connection.commit(in_thread=True)
                self.groups += 1
            except BaseException:
                await connection.rollback()
                raise
            finally:
                get_connections().reset(token)
        for future, value in done:
            if not future.done():
                future.set_result(value)


class ReadOnlySqliteClient(SqliteClient):
    """A second connection to the same file, for the reads of ``long_statements``, every
    statement in a thread. ``query_only`` refuses a write sent here by mistake; it may wait
    for a busy database inside SQLite, since it never blocks the loop."""

    async def create_connection(self, with_db: bool) -> None:
        if self._connection:
            return
        conn = sqlite3.connect(self.filename, isolation_level=None, timeout=BUSY_TIMEOUT,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only = ON")
        self._connection = InlineConnection(conn, in_thread=True)  # type: ignore[assignment]
        await self._post_connect()


def _is_read(query: str) -> bool:
    return query.lstrip()[:6].upper() == "SELECT"


class ImmediateSqliteClient(SqliteClient):
    _group: GroupCommit | None = None
    _reads: ReadOnlySqliteClient | None = None

    def group_commit(self) -> GroupCommit:
        """This connection's group committer (made on first use, on the running loop)."""
        if self._group is None:
            self._group = GroupCommit(self)
        return self._group

    async def create_connection(self, with_db: bool) -> None:
        if self._connection:
            return
        conn = sqlite3.connect(self.filename, isolation_level=None, timeout=0,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        inline = InlineConnection(conn)
        for pragma, value in self.pragmas.items():
            await inline.execute(f"PRAGMA {pragma}={value}")
        self._connection = inline  # type: ignore[assignment]
        await self._post_connect()

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)

    def _reader(self, query: str) -> ReadOnlySqliteClient | None:
        """Where a statement outside a transaction goes if not to the main connection: a
        read inside ``long_statements`` (transactions are the wrapper's and never get here),
        unless the database is in memory, which a second connection would not see."""
        if not (_LONG.get() and _is_read(query)) or self.filename == ":memory:":
            return None
        if self._reads is None:
            self._reads = ReadOnlySqliteClient(file_path=self.filename,
                                               connection_name=f"{self.connection_name}_reads")
        return self._reads

    async def execute_query(
        self, query: str, values: list[Any] | None = None
    ) -> tuple[int, Sequence[dict[str, Any]]]:
        reader = self._reader(query)
        result: tuple[int, Sequence[dict[str, Any]]] = await (
            super().execute_query(query, values) if reader is None
            else reader.execute_query(query, values))
        return result

    async def execute_query_dict(
        self, query: str, values: list[Any] | None = None
    ) -> list[dict[str, Any]]:
        reader = self._reader(query)
        rows: list[dict[str, Any]] = await (
            super().execute_query_dict(query, values) if reader is None
            else reader.execute_query_dict(query, values))
        return rows

    async def close(self) -> None:
        if self._reads is not None:
            await self._reads.close()
            self._reads = None
        await super().close()


client_class = ImmediateSqliteClient
