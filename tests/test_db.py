"""The PostgreSQL pool returns connections without asyncpg's reset round trip
(``db._keep_session``, B1); what the reset would have protected must still hold.

PostgreSQL runs beside every test run (CI too), so these build the app's own pool
configuration against it whichever database the rest of the suite uses."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest
from tortoise.backends.asyncpg import AsyncpgDBClient

from support.data import db
from tests.conftest import PG_ADMIN_URL


@pytest.fixture
async def pool() -> AsyncIterator[tuple[asyncpg.Pool, str]]:
    """The pool exactly as ``db.tortoise_config`` configures the app's, with a table of
    its own on the shared server."""
    url = PG_ADMIN_URL.replace("postgresql://", "postgres://", 1)
    credentials = db.tortoise_config(url)["connections"]["default"]["credentials"]
    client = AsyncpgDBClient(connection_name="pool-check", **credentials)
    await client.create_connection(with_db=True)
    table = f"pool_check_{secrets.token_hex(4)}"
    await client.execute_script(f"CREATE TABLE {table} (id int PRIMARY KEY, word text)")
    await client.execute_query(f"INSERT INTO {table} VALUES (1, 'kept')")  # noqa: S608
    try:
        yield client._pool, table
    finally:
        await client.execute_script(f"DROP TABLE {table}")
        await client.close()


async def test_a_transaction_left_open_is_rolled_back_when_its_connection_returns(
        pool: tuple[asyncpg.Pool, str]) -> None:
    pool, table = pool
    connection = await pool.acquire()
    await connection.execute("BEGIN")
    await connection.execute(f"UPDATE {table} SET word = 'changed'")  # noqa: S608
    await pool.release(connection)  # as code that raised between BEGIN and COMMIT would

    again = await pool.acquire()
    try:
        assert not again.is_in_transaction()
        assert await again.fetchval(f"SELECT word FROM {table}") == "kept"  # noqa: S608
    finally:
        await pool.release(again)


async def test_every_pooled_connection_keeps_the_app_settings(
        pool: tuple[asyncpg.Pool, str]) -> None:
    """Without a reset, nothing resets them either: each connection, used and returned
    many times, still plans for its values."""
    pool, _ = pool
    held = [await pool.acquire() for _ in range(3)]
    for connection in held:
        await connection.execute("SELECT 1")
        await pool.release(connection)
    for _ in range(3):
        connection = await pool.acquire()
        try:
            for name, value in db.POSTGRES_SETTINGS.items():
                assert await connection.fetchval(f"SHOW {name}") == value
        finally:
            await pool.release(connection)


async def test_the_inserts_pool_keeps_its_plans_and_the_other_plans_for_values() -> None:
    """Two pools on PostgreSQL: reviewers' reads plan each statement for its values (B2);
    the submission's insert keeps one plan (B1). SQLite has one connection, no second."""
    url = PG_ADMIN_URL.replace("postgresql://", "postgres://", 1)
    credentials = db.tortoise_config(url)["connections"]["default"]["credentials"]
    default = AsyncpgDBClient(connection_name="check-default", **credentials)
    inserts = db.inserts_client(url)
    assert inserts is not None
    for client, expected in ((default, "force_custom_plan"), (inserts, "auto")):
        await client.create_connection(with_db=True)
        try:
            _, rows = await client.execute_query("SHOW plan_cache_mode")
            assert rows[0]["plan_cache_mode"] == expected, client.connection_name
            _, rows = await client.execute_query("SHOW max_parallel_workers_per_gather")
            assert rows[0]["max_parallel_workers_per_gather"] == "0"
        finally:
            await client.close()
    assert db.inserts_client("sqlite:///tmp/x.sqlite3") is None
