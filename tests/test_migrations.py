"""The committed migrations are the schema: a model change without its migration fails here."""

from __future__ import annotations

from tortoise.cli.cli import tortoise_cli_context
from tortoise.migrations.autodetector import MigrationAutodetector

from support.data.db import tortoise_config


async def test_models_and_migrations_agree(tmp_path):
    config = tortoise_config(f"sqlite://{tmp_path / 'drift.sqlite3'}")
    async with tortoise_cli_context(config) as ctx:
        detector = MigrationAutodetector(ctx.apps, config["apps"])
        writers = await detector.changes()
    assert writers == [], "models changed without a migration: run `make migrations`"


async def test_migrations_built_the_indexes_the_queue_needs(app):
    from tortoise import connections

    connection = connections.get("default")
    if connection.capabilities.dialect == "postgres":
        rows = await connection.execute_query_dict(
            "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'application'"
        )
    else:
        rows = await connection.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'application'"
        )
    names = {row["name"] for row in rows}
    assert {"application_queue_idx", "application_phone_idx", "application_imei_idx"} <= names


async def test_each_migration_applies_on_top_of_existing_rows(tmp_path):
    """A deployed desk already has rows: a new NOT NULL column without a database default
    would fail there although it passes on an empty test database."""
    from tortoise import Tortoise, connections
    from tortoise.migrations.api.migrate import migrate as migrate_api

    from tests.conftest import DB_KIND, PG_ADMIN_URL

    if DB_KIND == "postgres":
        import asyncpg

        name = f"support_upgrade_{tmp_path.name[-8:].lower().replace('-', '_')}"
        admin = await asyncpg.connect(PG_ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        url = f"postgres://postgres@127.0.0.1:5432/{name}"
    else:
        url = f"sqlite://{tmp_path / 'upgrade.sqlite3'}"
    config = tortoise_config(url)
    try:
        await migrate_api(config=config, target="models.0001_initial")
        await connections.get("default").execute_query(
            "INSERT INTO reviewer (email, name, password_hash, role, active, created_at) "
            "VALUES ('a@example.com', 'A', 'x', 'admin', TRUE, CURRENT_TIMESTAMP)"
        )
        await Tortoise.close_connections()
        await migrate_api(config=config)
        rows = await connections.get("default").execute_query_dict(
            "SELECT failed_logins FROM reviewer"
        )
        assert rows == [{"failed_logins": 0}]
    finally:
        await Tortoise.close_connections()
        if DB_KIND == "postgres":
            admin = await asyncpg.connect(PG_ADMIN_URL)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
