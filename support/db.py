"""Tortoise set-up shared by the web app, the worker, the CLI and the tests.

Migrations (``support/migrations``) own the schema everywhere: the app never calls
``generate_schemas``, so what runs in tests is what runs in production.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate as migrate_api

MODELS = ["support.models"]


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": database_url},
        "apps": {
            "models": {
                "models": MODELS,
                "default_connection": "default",
                "migrations": "support.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _default_url() -> str:
    data_dir = Path(os.environ.get("SUPPORT_DATA_DIR") or "var").resolve()
    return os.environ.get("SUPPORT_DATABASE_URL") or f"sqlite://{data_dir / 'support.sqlite3'}"


# Read by Tortoise's own CLI (`tortoise makemigrations`) through [tool.tortoise].
TORTOISE_ORM = tortoise_config(_default_url())


def ensure_sqlite_dir(database_url: str) -> None:
    """SQLite creates the file but not its folder; a fresh clone has no ``var/``."""
    if database_url.startswith("sqlite://") and ":memory:" not in database_url:
        Path(database_url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)


async def migrate(database_url: str) -> None:
    """Apply every pending migration, then close: callers open their own connections."""
    ensure_sqlite_dir(database_url)
    try:
        await migrate_api(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()


async def init(database_url: str) -> None:
    ensure_sqlite_dir(database_url)
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close() -> None:
    await Tortoise.close_connections()


async def database_state() -> str:
    """A cheap round trip, for /healthz: 'ok' or the error's class name (no details leak)."""
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ok"
        return type(exc).__name__
    return "ok"
