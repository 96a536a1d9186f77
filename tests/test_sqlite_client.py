"""SQLite shared by two processes (the web app and ``support worker``): a transaction that
reads and then writes must wait for the other's write lock, not fail with "database is
locked". Two clients on one file stand in for the two processes (each has its own
connection, as each process does); this runs in both database runs, on a file of its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.exceptions import IntegrityError, OperationalError

from support.data.sqlite_client import ImmediateSqliteClient


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


# --- group commit ----------------------------------------------------------------------------
# ``app`` only initialises Tortoise (the committer points the ORM at its transaction);
# the client under test is one of its own, on a file of its own.


async def _notes(client: SqliteClient) -> list[str]:
    _, rows = await client.execute_query("SELECT who FROM note ORDER BY id")
    return [row["who"] for row in rows]


async def _fresh(path: Path) -> ImmediateSqliteClient:
    """A client that has not connected yet, as in a process whose first query is a
    submission (the bench's server hung there once)."""
    setup = await _client(ImmediateSqliteClient, path, "setup")
    await setup.execute_script("CREATE TABLE note (id INTEGER PRIMARY KEY, who TEXT UNIQUE)")
    await setup.close()
    return ImmediateSqliteClient(file_path=str(path), connection_name="fresh")


def _note(who: str):  # noqa: ANN202
    async def work(connection):  # noqa: ANN001, ANN202
        return await connection.execute_insert("INSERT INTO note (who) VALUES (?)", [who])
    return work


async def test_units_that_arrive_together_share_one_commit(app, tmp_path):  # noqa: ARG001
    client = await _fresh(tmp_path / "group.sqlite3")
    group = client.group_commit()
    try:
        ids = await asyncio.wait_for(
            asyncio.gather(*(group.run(_note(f"n{i}")) for i in range(20))), 10)
        assert sorted(ids) == list(range(1, 21))
        # All twenty were waiting before the committer's first turn: one BEGIN, one COMMIT.
        assert group.groups == 1
        assert sorted(await _notes(client)) == sorted(f"n{i}" for i in range(20))
    finally:
        await client.close()


async def test_a_failing_unit_is_rolled_back_alone(app, tmp_path):  # noqa: ARG001
    client = await _fresh(tmp_path / "group.sqlite3")
    group = client.group_commit()
    try:
        results = await asyncio.wait_for(asyncio.gather(
            group.run(_note("first")), group.run(_note("twin")), group.run(_note("twin")),
            group.run(_note("last")), return_exceptions=True), 10)
        assert isinstance(results[2], IntegrityError)
        assert not any(isinstance(result, Exception) for result in results[:2] + results[3:])
        assert await _notes(client) == ["first", "twin", "last"]
    finally:
        await client.close()


async def test_a_failing_commit_fails_every_unit_and_keeps_none(app, tmp_path, monkeypatch):  # noqa: ARG001
    client = await _fresh(tmp_path / "group.sqlite3")
    group = client.group_commit()
    await group.run(_note("before"))
    real_to_thread = asyncio.to_thread

    async def disk_full(action, *args):  # noqa: ANN001, ANN202 - the COMMIT's thread
        raise sqlite3.OperationalError("database or disk is full")

    try:
        monkeypatch.setattr(asyncio, "to_thread", disk_full)
        results = await asyncio.wait_for(asyncio.gather(
            *(group.run(_note(f"lost{i}")) for i in range(3)), return_exceptions=True), 10)
        assert all(isinstance(result, sqlite3.OperationalError) for result in results), results
        monkeypatch.setattr(asyncio, "to_thread", real_to_thread)
        assert await _notes(client) == ["before"]
        await group.run(_note("after"))  # the committer goes on
        assert await _notes(client) == ["before", "after"]
    finally:
        await client.close()
