"""Long work must not hold the event loop (bench/b6_sqlite_export.py).

On SQLite, statements run on the event loop's thread (B1), and a job of many of them never
gave the loop a turn: while the queue export, the report rollup or a retention purge ran,
every other request of the process waited for its end. Inside ``long_statements()`` each
statement goes to a thread (a read outside a transaction on a read-only connection).

Orders of events are compared, not durations: ``gate()`` is a SQL function that holds its
statement until the test opens it, so "the loop ran while the statement was running" is a
fact the test observes, however slow the machine. The first tests use a SQLite file of
their own and run in both database runs; the last ones run the real jobs on the suite's
database, where PostgreSQL (asyncpg) must give the same guarantee.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise.exceptions import OperationalError

from support.config import Settings
from support.data import db
from support.data.models import Reviewer, Status
from support.data.sqlite_client import ImmediateSqliteClient, long_statements
from support.reads import exports, reports
from support.reads.exports import QueueExport
from support.reads.queue import Filters
from support.workflow import purging
from tests.factories import make_application


class Gate:
    """``SELECT gate()`` holds its statement, in whichever thread runs it, until the test
    opens the gate (or ``hold`` seconds pass, so a failing test cannot hang)."""

    def __init__(self, hold: float = 10.0) -> None:
        self.hold = hold
        self.entered = threading.Event()
        self.opened = threading.Event()

    def install(self, conn: sqlite3.Connection) -> None:
        conn.create_function("gate", 0, self._wait)

    def _wait(self) -> int:
        self.entered.set()
        self.opened.wait(self.hold)
        return 1

    async def wait_entered(self) -> None:
        """Returns once a statement is inside the gate: only if the loop is free meanwhile."""
        async with asyncio.timeout(self.hold):
            while not self.entered.is_set():
                await asyncio.sleep(0.001)


async def _client(path: Path) -> ImmediateSqliteClient:
    client = ImmediateSqliteClient(file_path=str(path), connection_name="offloop")
    await client.create_connection(with_db=True)
    await client.execute_script("CREATE TABLE note (id INTEGER PRIMARY KEY, who TEXT)")
    return client


def _raw(client: Any) -> sqlite3.Connection:
    connection: sqlite3.Connection = client._connection._conn
    return connection


async def test_a_long_read_leaves_the_loop_and_the_connection_to_short_statements(tmp_path):
    client = await _client(tmp_path / "reads.sqlite3")
    try:
        with long_statements():
            await client.execute_query("SELECT 1")  # the read-only connection, made now
        reader = client._reads
        assert reader is not None
        gate = Gate()
        gate.install(_raw(reader))
        order: list[str] = []

        async def long_read() -> None:
            with long_statements():
                _, rows = await client.execute_query("SELECT gate() AS done")
            assert rows[0]["done"] == 1
            order.append("long read")

        task = asyncio.create_task(long_read())
        await gate.wait_entered()
        # Meanwhile, on the loop: a write and a read on the main connection, inline.
        await client.execute_insert("INSERT INTO note (who) VALUES (?)", ["short"])
        _, rows = await client.execute_query("SELECT count(*) AS n FROM note")
        assert rows[0]["n"] == 1
        order.append("short statements")
        gate.opened.set()
        await task
        assert order == ["short statements", "long read"]
    finally:
        await client.close()


async def test_the_read_only_connection_takes_no_writes(tmp_path):
    """Only a SELECT goes there; a write inside the block stays on the main connection, and
    one sent there by mistake fails instead of writing behind Tortoise's lock."""
    client = await _client(tmp_path / "writes.sqlite3")
    try:
        with long_statements():
            await client.execute_insert("INSERT INTO note (who) VALUES (?)", ["a"])
            await client.execute_query("UPDATE note SET who = 'b'")
            _, rows = await client.execute_query("SELECT who FROM note")
        assert [row["who"] for row in rows] == ["b"]
        assert client._reads is not None
        with pytest.raises(OperationalError, match="readonly"):
            await client._reads.execute_query("DELETE FROM note")
    finally:
        await client.close()


async def test_a_long_statement_in_a_transaction_runs_in_a_thread(tmp_path):
    """A purge batch: the transaction keeps its connection (and Tortoise's lock), but the
    loop is free while each of its statements runs."""
    client = await _client(tmp_path / "transaction.sqlite3")
    gate = Gate()
    gate.install(_raw(client))
    order: list[str] = []
    try:
        transaction = client._in_transaction().connection
        await transaction.begin()

        async def batch() -> None:
            with long_statements():
                await transaction.execute_insert("INSERT INTO note (who) VALUES (?)", ["batch"])
                await transaction.execute_query("SELECT gate()")
                await transaction.commit()
            order.append("batch committed")

        task = asyncio.create_task(batch())
        await gate.wait_entered()
        order.append("the loop ran")
        gate.opened.set()
        await task
        assert order == ["the loop ran", "batch committed"]
        _, rows = await client.execute_query("SELECT who FROM note")
        assert [row["who"] for row in rows] == ["batch"]
    finally:
        await client.close()


async def test_control_outside_the_block_a_statement_holds_the_loop(tmp_path):
    """Why the block exists: the same statement without it runs on the loop's thread, so
    nothing else runs until it ends (here the gate gives up after 0.2 s, as nobody could
    open it)."""
    client = await _client(tmp_path / "inline.sqlite3")
    gate = Gate(hold=0.2)
    gate.install(_raw(client))
    order: list[str] = []

    async def long_read() -> None:
        await client.execute_query("SELECT gate()")
        order.append("long read")

    async def short() -> None:
        await asyncio.sleep(0)
        order.append("short")

    try:
        await asyncio.gather(long_read(), short())
        assert order == ["long read", "short"]
    finally:
        await client.close()


# --- the real jobs, on the suite's database (SQLite or PostgreSQL) --------------------------

class Ticker:
    """Another task on the loop, counting the turns it gets."""

    def __init__(self) -> None:
        self.turns = 0
        self._stop = False

    async def _run(self) -> None:
        while not self._stop:
            self.turns += 1
            await asyncio.sleep(0)

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop = True
        await self._task


async def _turns_and_statements(job: Callable[[], Awaitable[Any]]) -> tuple[int, int]:
    """Turns another task got while ``job`` ran, and the statements the job sent: inline
    on SQLite's loop thread, that was no turn at all, whatever the job's length."""
    async with Ticker() as ticker:
        before = ticker.turns
        with db.statements_sent() as seen:
            await job()
        return ticker.turns - before, len(seen)


async def _lead() -> Reviewer:
    return await Reviewer.create(email="lead@example.com", name="Lead", password_hash="-",
                                 role="lead")


async def test_the_export_gives_the_loop_a_turn_for_each_statement(app, monkeypatch):  # noqa: ARG001
    """Each batch's two reads wait for their thread (SQLite) or the server (PostgreSQL):
    other tasks run while every batch is read, not once the whole export is done."""
    lead = await _lead()
    for _ in range(5):
        await make_application()
    monkeypatch.setattr(exports, "BATCH", 2)
    gained: list[int] = []
    rows = 0
    async with Ticker() as ticker:
        with db.statements_sent() as seen:
            before = ticker.turns
            async for batch in QueueExport(lead, Filters(tab="queued"), contacts=True).batches():
                gained.append(ticker.turns - before)
                rows += len(batch)
                before = ticker.turns
    assert rows == 5
    assert len(seen) == 6  # three batches (2, 2, 1 rows), two statements each
    assert len(gained) == 3
    assert all(turns >= 2 for turns in gained), gained


async def test_the_report_rollup_gives_the_loop_turns(app):  # noqa: ARG001
    now = datetime.now(UTC)
    await make_application(status=Status.APPROVED, decided_at=now - timedelta(hours=2),
                           verified_at=now - timedelta(days=2))
    await make_application()
    turns, statements = await _turns_and_statements(lambda: reports.refresh(force=True))
    assert statements > 5
    assert turns >= statements


async def test_the_retention_purge_gives_the_loop_turns(app, settings: Settings):  # noqa: ARG001
    long_ago = datetime.now(UTC) - timedelta(days=400)
    for _ in range(3):
        await make_application(status=Status.APPROVED, decided_at=long_ago,
                               verified_at=long_ago - timedelta(days=1))
    reports_: list[purging.PurgeReport] = []

    async def purge() -> None:
        reports_.append(await purging.purge(settings))

    turns, statements = await _turns_and_statements(purge)
    assert reports_[0].redacted == 3
    assert turns >= statements
