"""Tortoise set-up shared by the web app, the worker, the CLI and the tests.

Migrations (``support/migrations``) own the schema everywhere: the app never calls
``generate_schemas``, so what runs in tests is what runs in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import DBConnectionError
from tortoise.migrations.api.migrate import migrate as migrate_api

MODELS = ["support.data.models"]
T = TypeVar("T")


# Every PostgreSQL session of the app. asyncpg prepares each statement once per connection,
# and after five runs PostgreSQL may switch to one generic plan that ignores the values;
# the desk's values differ in selectivity by orders of magnitude (60,000 queued against
# 2,000 in review, a flag on 30 applications against one on 10,000), and at a million rows
# a generic plan made for one value read 221,000 index entries for another (B2). Its
# statements are short index reads, where starting parallel workers costs more than it
# saves (B2: the filtered queue page's p50 went from 35 to 18 ms without them).
POSTGRES_SETTINGS = {"plan_cache_mode": "force_custom_plan",
                     "max_parallel_workers_per_gather": "0"}

# A second pool, for inserts whose plan cannot depend on their values (``rows``): a
# submission's one statement has six INSERTs and sixty parameters, and planning it afresh
# each time cost PostgreSQL about 0.5 ms per submission, on the cores the web process
# needs (B1). Here PostgreSQL's default applies: plan it for its values five times, then
# keep one plan. Only on PostgreSQL: SQLite has one connection per process.
INSERTS = "inserts"
INSERT_SETTINGS = {**POSTGRES_SETTINGS, "plan_cache_mode": "auto"}


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What the pool runs when a connection comes back, instead of asyncpg's default reset
    (``RESET ALL``, ``UNLISTEN *``, ``CLOSE ALL``, unlocking advisory locks): one more round
    trip for every transaction and every query outside one, 9% of the event loop's time in
    B1 on PostgreSQL. The app sets no session state to undo (its settings are given at
    connect, ``POSTGRES_SETTINGS``; no ``SET`` outside ``SET LOCAL``, no ``LISTEN``, no
    cursors outside a transaction, no session-level advisory locks: ``serialise`` takes
    transaction-level ones, which end with their transaction); code that starts to must
    reset it itself. A transaction left open is still rolled back: asyncpg does that
    before this is called (tests/test_db.py)."""


def _connection(database_url: str, settings: dict[str, str]) -> str | dict[str, Any]:
    """SQLite goes through ``support.data.sqlite_client`` (write transactions that wait for the
    lock instead of failing when another process writes); PostgreSQL sessions start with
    ``settings`` and are not reset when they go back to the pool (``_keep_session``)."""
    expanded = expand_db_url(database_url)
    if database_url.startswith("sqlite://"):
        return {"engine": "support.data.sqlite_client", "credentials": expanded["credentials"]}
    if expanded["engine"].endswith("asyncpg"):
        credentials = expanded["credentials"]
        credentials["server_settings"] = {**settings, **credentials.get("server_settings", {})}
        credentials["reset"] = _keep_session
    return expanded


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(database_url, POSTGRES_SETTINGS)},
        "apps": {
            "models": {
                "models": MODELS,
                "default_connection": "default",
                "migrations": "support.data.migrations",
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


def inserts_client(database_url: str) -> AsyncpgDBClient | None:
    """The pool of ``INSERTS`` (not connected until first used), or None on SQLite. Kept
    out of Tortoise's own configuration: with two connections there, every
    ``in_transaction()`` would have to name one."""
    connection = _connection(database_url, INSERT_SETTINGS)
    if not isinstance(connection, dict) or not connection["engine"].endswith("asyncpg"):
        return None
    return AsyncpgDBClient(connection_name=INSERTS, **connection["credentials"])


_inserts: AsyncpgDBClient | None = None


def inserts() -> AsyncpgDBClient | None:
    """The process's pool for inserts (``rows``), None on SQLite."""
    return _inserts


async def init(database_url: str) -> None:
    global _inserts  # noqa: PLW0603 - one per process, as Tortoise's own connections
    ensure_sqlite_dir(database_url)
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    _inserts = inserts_client(database_url)


async def close() -> None:
    global _inserts  # noqa: PLW0603
    if _inserts is not None:
        await _inserts.close()
        _inserts = None
    await Tortoise.close_connections()


async def database_state() -> str:
    """A cheap round trip, for /healthz: 'ok' or the error's class name (no details leak)."""
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ok"
        return type(exc).__name__
    return "ok"


# What a request meets while PostgreSQL restarts (tests/test_faults.py): a refused or
# reset connect, "the database system is starting up / shutting down", "terminating
# connection due to administrator command", a connection closed mid-statement. None of
# them is the request's fault, and the pool replaces the dead connections on the next
# acquire, so the page says "try again in a moment" (503) instead of "something broke".
UNAVAILABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError, asyncpg.InterfaceError, asyncpg.InternalClientError,
    DBConnectionError, ConnectionError, TimeoutError,
)


def unavailable(error: BaseException | None) -> bool:
    """Whether ``error``, or an error it was raised from or while handling, means the
    database went away. A server that ends our session sends its FATAL message first, so
    asyncpg's next statement on it fails as an *internal* error ("cannot switch to state
    ...; another operation is in progress"), and Tortoise's rollback on the closed
    connection then raises "the underlying connection is closed": both are outage
    symptoms here. asyncpg's other interface errors are misuse, so they stay bugs."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, asyncpg.InterfaceError):
            if "connection is closed" in str(error):
                return True
        elif isinstance(error, UNAVAILABLE):
            return True
        error = error.__cause__ or error.__context__
    return False


async def when_back(action: Callable[[], Awaitable[T]], seconds: float = 5.0) -> T:
    """Run ``action`` as soon as the database answers again, retrying for at most
    ``seconds`` while it is unavailable; then the last error is raised. For the few
    questions that must be answered after a dropped connection (did that commit land?),
    not for ordinary requests, which answer 503 at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        try:
            return await action()
        except Exception as exc:
            if not unavailable(exc) or loop.time() >= deadline:
                raise
        await asyncio.sleep(0.2)


async def serialise(connection: BaseDBAsyncClient, *key: str) -> None:
    """Hold, until the caller's transaction ends, a lock named by ``key``: a check and the
    write it allows (say, "no open application of this account" then the confirmation)
    then run one after the other for the same key, never side by side.

    On PostgreSQL a transaction-level advisory lock, keyed by a 64-bit hash of the key
    (a collision only makes two keys wait for each other). READ COMMITTED gives each
    statement a fresh snapshot, so a check made after the lock is taken sees what the
    previous holder committed. On SQLite nothing is needed: a write transaction starts
    with ``BEGIN IMMEDIATE`` (``sqlite_client``), so it holds the one write lock from its
    first statement, and no other writer, of any process, runs in between."""
    if connection.capabilities.dialect != "postgres":
        return
    digest = hashlib.blake2b("\x1f".join(key).encode(), digest_size=8).digest()
    await connection.execute_query("SELECT pg_advisory_xact_lock($1)",
                                   [int.from_bytes(digest, "big", signed=True)])


@contextlib.contextmanager
def statements_sent() -> Iterator[list[tuple[str, list[Any]]]]:
    """Every statement Tortoise sends while the block runs, with its parameters, read from
    the DEBUG log both its SQLite and PostgreSQL clients write. The tests count them per
    page (no page's count may grow with its rows) and bench/b2_queue.py explains them."""
    seen: list[tuple[str, list[Any]]] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            args = record.args
            if isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], str):
                values = args[1]
                seen.append((args[0], list(values) if isinstance(values, list | tuple) else []))
            else:
                seen.append((record.getMessage(), []))

    logger = logging.getLogger("tortoise.db_client")
    handler = Recorder(logging.DEBUG)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
