"""A consistent copy of a running desk's SQLite database, for ``support backup``.

SQLite's online backup API, never a file copy: a copy of the file (or of the file and its
``-wal``) taken while the web process writes can hold half a transaction. The copy is made
a few megabytes at a time from a connection that holds one read transaction from first
step to last, so every step reads the same moment of the database and the backup never
restarts however much is written meanwhile. In WAL mode (Tortoise's default, and the
desk's) a reader never blocks a writer: submissions and decisions go on while it runs;
the one cost is that the WAL cannot be checkpointed past the copy's moment until it ends.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from support.data.models import (
    AccessToken,
    Application,
    Document,
    Event,
    Notification,
    Reviewer,
    Verification,
)

STEP_PAGES = 1024  # 4 MB at SQLite's default page size: a step takes a few milliseconds
PAUSE = 0.002  # between steps, so the copy does not hold a core the web process needs

Progress = Callable[[int, int], None]  # pages copied, pages in all


def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite://`` URL, or None for another database or one in memory."""
    if not database_url.startswith("sqlite://") or ":memory:" in database_url:
        return None
    return Path(database_url.removeprefix("sqlite://"))


def copy_sqlite(source: Path, target: Path, progress: Progress | None = None) -> dict[str, int]:
    """Copy ``source`` into a new file ``target`` as it was at one moment, and return the
    counts of its main tables at that moment (for the manifest)."""
    if not source.exists():
        raise FileNotFoundError(f"there is no database at {source}")
    reader = sqlite3.connect(source, isolation_level=None, timeout=30)
    reader.execute("PRAGMA query_only = ON")  # a backup never writes to the desk
    written = sqlite3.connect(target, isolation_level=None)
    try:
        reader.execute("BEGIN")
        counts = _counts(reader)  # the first read fixes the moment the copy is of

        def step(status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress(total - remaining, total)
            time.sleep(PAUSE)

        reader.backup(written, pages=STEP_PAGES, progress=step)
        reader.execute("COMMIT")
        # The copy keeps the source's WAL mode; a file that travels alone is simpler.
        written.execute("PRAGMA journal_mode=DELETE")
        return counts
    finally:
        written.close()
        reader.close()


# The tables a manifest counts, by their models (the names are the models' to choose).
TABLES = tuple(model._meta.db_table for model in (
    Application, Document, Event, Reviewer, Verification, AccessToken, Notification))


def _counts(connection: sqlite3.Connection) -> dict[str, int]:
    found = {name for (name,) in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - names from TABLES
            for table in TABLES if table in found}


def counts_of(path: Path) -> dict[str, int]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return _counts(connection)
    finally:
        connection.close()


def integrity_problem(path: Path) -> str | None:
    """SQLite's own quick check of a restored file: None when it is sound."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = connection.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        connection.close()
    return None if result == "ok" else str(result)


def known_migrations() -> list[str]:
    """The migrations this version of the desk has, in order."""
    folder = Path(__file__).parent / "migrations"
    return sorted(path.stem for path in folder.glob("[0-9]*.py"))


def migrations_of(path: Path) -> list[str]:
    """The names of the migrations applied to the database in ``path``."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [name for (name,) in connection.execute(
            "SELECT name FROM tortoise_migrations ORDER BY id")]
    except sqlite3.OperationalError:  # not a desk's database, or never migrated
        return []
    finally:
        connection.close()
