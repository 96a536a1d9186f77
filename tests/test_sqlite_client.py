"""SQLite shared by two processes (the web app and ``support worker``): a transaction that
reads and then writes must wait for the other's write lock, not fail with "database is
locked". Two clients on one file stand in for the two processes (each has its own
connection, as each process does); this runs in both database runs, on a file of its own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.exceptions import OperationalError

from support.sqlite_client import ImmediateSqliteClient


async def _client(cls: type[SqliteClient], path: Path, name: str) -> SqliteClient:
    client = cls(file_path=str(path), connection_name=name)
    await client.create_connection(with_db=True)
    return client


async def _race(cls: type[SqliteClient], path: Path) -> list[tuple[int, str]]:
    """Process A writes and holds its transaction a moment; process B, meanwhile, reads
    then writes, as ``submit`` and the worker's claim do."""
    a = await _client(cls, path, "a")
    b = await _client(cls, path, "b")
    await a.execute_script("CREATE TABLE IF NOT EXISTS note (id INTEGER PRIMARY KEY, who TEXT)")
    a_has_lock = asyncio.Event()

    async def process_a() -> None:
        conn = a._in_transaction().connection  # the wrapper ``in_transaction`` would use
        await conn.begin()
        await conn.execute_query("SELECT count(*) FROM note")
        await conn.execute_insert("INSERT INTO note (who) VALUES (?)", ["a"])
        a_has_lock.set()
        await asyncio.sleep(0.3)
        await conn.commit()

    async def process_b() -> None:
        await a_has_lock.wait()
        conn = b._in_transaction().connection
        await conn.begin()
        try:
            await conn.execute_query("SELECT count(*) FROM note")
            await conn.execute_insert("INSERT INTO note (who) VALUES (?)", ["b"])
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()

    try:
        await asyncio.gather(process_a(), process_b())
        _, rows = await a.execute_query("SELECT id, who FROM note ORDER BY id")
        return [(row["id"], row["who"]) for row in rows]
    finally:
        await a.close()
        await b.close()


async def test_write_transactions_of_two_processes_queue_instead_of_failing(tmp_path):
    """B waits for A's lock with asyncio.sleep: were it to wait inside SQLite on the event
    loop's thread (statements run inline), A could never commit and this would hang."""
    assert await _race(ImmediateSqliteClient, tmp_path / "shared.sqlite3") == [(1, "a"), (2, "b")]


async def test_control_plain_deferred_transactions_do_fail(tmp_path):
    """Without ``BEGIN IMMEDIATE`` the same race fails: the test above can fail."""
    with pytest.raises(OperationalError, match="locked"):
        await _race(SqliteClient, tmp_path / "shared.sqlite3")
