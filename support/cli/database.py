"""A command's database: connected for one action, closed after it whatever happens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from support.config import Settings
from support.data import db
from support.documents.store import close_clients

T = TypeVar("T")


async def with_db(settings: Settings, action: Callable[[], Awaitable[T]]) -> T:
    await db.init(settings.database_url)
    try:
        return await action()
    finally:
        await db.close()
        await close_clients()  # a purge's or an erasure's bucket client
