"""The committed migrations are the schema: a model change without its migration fails here."""

from __future__ import annotations

from tortoise.cli.cli import tortoise_cli_context
from tortoise.migrations.autodetector import MigrationAutodetector

from support.db import tortoise_config


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
