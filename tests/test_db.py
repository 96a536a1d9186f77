"""The PostgreSQL pool returns connections without asyncpg's reset round trip
(``db._keep_session``, B1); what the reset would have protected must still hold."""

from __future__ import annotations

import pytest
from tortoise import connections

from support import db
from support.models import Application
from tests.factories import make_application


@pytest.fixture
def pool(app, settings):  # noqa: ANN001, ANN201 - the app's own pool, PostgreSQL only
    if not settings.is_postgres:
        pytest.skip("the PostgreSQL connection pool")
    return connections.get("default")._pool


async def test_a_transaction_left_open_is_rolled_back_when_its_connection_returns(pool) -> None:
    existing = await make_application()
    connection = await pool.acquire()
    await connection.execute("BEGIN")
    await connection.execute("UPDATE application SET account_id = 'changed' WHERE id = $1",
                             existing.id)
    await pool.release(connection)  # as code that raised between BEGIN and COMMIT would

    again = await pool.acquire()
    try:
        assert not again.is_in_transaction()
    finally:
        await pool.release(again)
    assert (await Application.get(id=existing.id)).account_id == existing.account_id


async def test_every_pooled_connection_keeps_the_app_settings(pool) -> None:
    """Without a reset, nothing resets them either: each connection, used and returned
    many times, still plans for its values."""
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

