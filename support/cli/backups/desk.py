"""A desk into an archive and back: what ``support backup``, ``support restore`` and
``support migrate`` (its backup first, and ``--undo``) do.

What a desk is, for a backup: its database (on SQLite; PostgreSQL is backed up with its
own tools, docs/deploy.md), the secret key that signs every status link and reviewer
session, the documents on disk with the spooled uploads not yet filed, and the erasure
log. Not the data dir's ``tmp/`` (half-made files), ``metrics/`` (counters of processes
that are gone), nor the development backends' ``mail/`` and ``sms.log``.

Order matters: the database is copied first, as of one moment; the files after it. A
file the copied database names was written before its row was committed, so it is on disk
when the files are read, unless it was erased meanwhile (then it is left out, and the
erasure log in the archive says to erase its application again on restore). Files newer
than the database's moment may come along; the restored desk's hourly sweep removes those
no row claims.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from support.cli.backups import archive
from support.cli.backups.archive import Damaged, Manifest
from support.cli.backups.progress import Progress
from support.config import Settings
from support.data import db, snapshot
from support.documents.storage import KEY_ALPHABET
from support.workflow import erasure_log

KEEP_BEFORE_MIGRATE = 3
MIGRATE_PREFIX = "before-migrate-"


class Refused(Exception):
    """The operator asked for something that would lose data; ``str`` says what and why."""


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S.%fZ")  # two upgrades in one second keep both


def take(settings: Settings, path: Path, progress: Progress, *,
         database_only: bool = False) -> Manifest:
    """Write the archive ``path`` of this desk; return its manifest."""
    if path.exists():
        raise Refused(f"{path} exists: a backup never replaces a file")
    if not path.parent.is_dir():
        raise Refused(f"there is no folder {path.parent}")
    database = snapshot.sqlite_path(settings.database_url)
    if not settings.secret_key:
        raise Refused(f"there is no desk in {settings.data_dir} (no secret_key): is "
                      "SUPPORT_DATA_DIR the desk's?")
    if database_only and database is None:
        raise Refused("only a SQLite database can be backed up by the desk")
    started = datetime.now(UTC)
    writer = archive.Writer(path, progress.add)
    try:
        manifest = Manifest(
            created=started.isoformat(), scope="database" if database_only else "full",
            database="sqlite" if database else "postgresql",
            documents="none" if database_only else "bucket" if settings.storage else "disk")
        if database is not None:
            manifest.counts, manifest.migrations = _database(database, path.parent, writer,
                                                             progress)
        writer.add_bytes(archive.SECRET, settings.secret_key.encode())
        if not database_only and settings.storage is None:
            _files(settings, writer, progress)
        if settings.erasure_log.exists():  # after the files: an erasure meanwhile is in it
            writer.add_file(archive.ERASURES, settings.erasure_log)
        progress.end_line()
        return writer.finish(manifest)
    except BaseException:
        writer.abort()
        raise


def _database(database: Path, folder: Path, writer: archive.Writer,
              progress: Progress) -> tuple[dict[str, int], list[str]]:
    """Copy the database beside the archive (the copy must be a file SQLite writes),
    then into it."""
    descriptor, name = tempfile.mkstemp(prefix=".database-", suffix=".partial", dir=folder)
    os.close(descriptor)
    copy = Path(name)
    try:
        copy.unlink()  # SQLite's backup wants to make it
        progress.begin("Database", database.stat().st_size)
        page_size = 4096

        def pages(done: int, total: int) -> None:
            progress.done = done * page_size
            progress.add(0)

        counts = snapshot.copy_sqlite(database, copy, pages)
        progress.begin("Database into the archive", copy.stat().st_size)
        writer.add_file(archive.DATABASE, copy)
        return counts, snapshot.migrations_of(copy)
    finally:
        copy.unlink(missing_ok=True)


def _files(settings: Settings, writer: archive.Writer, progress: Progress) -> None:
    spool = sorted(settings.spool_dir.glob("*")) if settings.spool_dir.is_dir() else []
    progress.begin("Spooled uploads", sum(_size(path) for path in spool))
    for path in spool:
        if path.is_file():
            writer.add_file(f"spool/{path.name}", path)
    root = settings.documents_dir
    progress.begin("Documents", _du(root))
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if len(folder.name) != 2 or not all(c in KEY_ALPHABET for c in folder.name):
            continue
        for entry in sorted(os.scandir(folder), key=lambda entry: entry.name):
            if entry.is_file(follow_symlinks=False) and archive.NAMES.fullmatch(
                    f"documents/{folder.name}/{entry.name}"):
                writer.add_file(f"documents/{folder.name}/{entry.name}", Path(entry.path))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _du(root: Path) -> int:
    """Bytes under ``root``, for the progress line's percentage (a scan of the folders)."""
    total = 0
    if root.is_dir():
        for folder in os.scandir(root):
            if folder.is_dir(follow_symlinks=False):
                for entry in os.scandir(folder.path):
                    try:
                        total += entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:
                        continue
    return total


# --- checking and restoring --------------------------------------------------------------


def verify(path: Path, progress: Progress) -> Manifest:
    progress.begin("Checking", _size(path))
    manifest = archive.read(path, progress.add)
    progress.end_line()
    return manifest


@dataclass
class Restored:
    manifest: Manifest
    erased_again: int
    pending_migrations: list[str]


def restore(settings: Settings, path: Path, progress: Progress,
            erasures: Path | None = None) -> Restored:
    """Put the desk in the archive ``path`` into ``settings.data_dir``, which must be
    empty; check the whole archive first, and write nothing if it is damaged."""
    target = settings.data_dir
    database = snapshot.sqlite_path(settings.database_url)
    if target.exists() and any(target.iterdir()):
        raise Refused(f"{target} is not empty: restore only into an empty data directory "
                      "(SUPPORT_DATA_DIR), so nothing there is overwritten")
    if database is not None and database.exists():
        raise Refused(f"there is already a database at {database}")
    if erasures is not None and not erasures.is_file():
        raise Refused(f"there is no erasure log at {erasures}")
    manifest = verify(path, progress)
    _fits(settings, manifest, database)
    staging = archive.staging_beside(target)
    moved_database: Path | None = None
    try:
        progress.begin("Restoring", manifest.bytes)

        def place(name: str) -> Path:
            return staging / name

        archive.read(path, progress.add, place)  # checked again as it is written
        progress.end_line()
        copied = staging / archive.DATABASE
        if copied.exists():
            assert database is not None
            problem = snapshot.integrity_problem(copied)
            if problem:
                raise Damaged(f"its database does not pass SQLite's check ({problem})")
            if database.is_relative_to(target):  # moves with the folder
                inside = staging / database.relative_to(target)
                inside.parent.mkdir(parents=True, exist_ok=True)
                os.replace(copied, inside)
            else:
                database.parent.mkdir(parents=True, exist_ok=True)
                os.replace(copied, database)
                moved_database = database
            (staging / "database").rmdir()
        _settle(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if moved_database is not None:
            moved_database.unlink(missing_ok=True)
        raise
    references = erasure_log.read(settings.erasure_log) if settings.erasure_log.exists() \
        else []
    if erasures is not None:
        references += erasure_log.read(erasures)
    restored = settings.with_(secret_key=(target / archive.SECRET).read_text())
    erased = asyncio.run(_replay(restored, references)) if references and \
        (database is not None or manifest.database == "postgresql") else 0
    pending = [name for name in snapshot.known_migrations()
               if name not in manifest.migrations] if database is not None else []
    return Restored(manifest, erased, pending)


def _fits(settings: Settings, manifest: Manifest, database: Path | None) -> None:
    if manifest.scope != "full":
        raise Refused("this archive holds only a database, made by `support migrate` "
                      "before an upgrade: `support migrate --undo` puts it back")
    if manifest.database == "sqlite" and database is None:
        raise Refused("this archive holds a SQLite database, but SUPPORT_DATABASE_URL names "
                      "PostgreSQL: unset it to restore the desk on SQLite")
    if manifest.database == "postgresql" and database is not None:
        raise Refused("this archive was made on PostgreSQL and holds no database: restore "
                      "the database with PostgreSQL's tools and set SUPPORT_DATABASE_URL "
                      "to it first (docs/deploy.md, \"Backups\")")
    if manifest.documents == "bucket" and settings.storage is None:
        raise Refused("the documents of this desk are in a bucket: set SUPPORT_STORAGE_URL "
                      "to it before restoring, or they would be missing")
    newer = [name for name in manifest.migrations if name not in snapshot.known_migrations()]
    if newer:
        raise Refused(f"this archive was made by a newer version of the desk (its database "
                      f"has migration {newer[0]}): restore it with that version")


def _settle(staging: Path, target: Path) -> None:
    """Move the restored folder into place: a rename, so the data dir is never half
    there. An empty target folder is replaced."""
    if target.exists():
        target.rmdir()
    os.replace(staging, target)


async def _replay(settings: Settings, references: list[str]) -> int:
    await db.init(settings.database_url)
    try:
        return await erasure_log.replay(settings, references)
    finally:
        await db.close()


# --- the backup ``support migrate`` takes first ---------------------------------------------


def before_migrate(settings: Settings, progress: Progress) -> Path | None:
    """On SQLite with migrations to apply, a database-only archive in
    ``<data dir>/backups``, keeping the last ``KEEP_BEFORE_MIGRATE``; None when there is
    nothing to protect (a new desk, nothing pending, or PostgreSQL)."""
    database = snapshot.sqlite_path(settings.database_url)
    if database is None or not database.exists():
        return None
    applied = snapshot.migrations_of(database)
    if not applied or set(snapshot.known_migrations()) <= set(applied):
        return None
    folder = settings.data_dir / "backups"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{MIGRATE_PREFIX}{_stamp(datetime.now(UTC))}.tar"
    take(settings, path, progress, database_only=True)
    for old in sorted(folder.glob(MIGRATE_PREFIX + "*.tar"))[:-KEEP_BEFORE_MIGRATE]:
        old.unlink()
    return path


def undo_migrate(settings: Settings, progress: Progress,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> tuple[Path, Path]:
    """Put back the database of the newest backup ``support migrate`` took, keeping the
    current one beside it; return (the backup, where the current one now is)."""
    database = snapshot.sqlite_path(settings.database_url)
    if database is None:
        raise Refused("`support migrate --undo` is for SQLite; on PostgreSQL restore the "
                      "dump taken before the upgrade (docs/deploy.md, \"Backups\")")
    backups = sorted((settings.data_dir / "backups").glob(MIGRATE_PREFIX + "*.tar"))
    if not backups:
        raise Refused(f"there is no backup from `support migrate` in "
                      f"{settings.data_dir / 'backups'}")
    newest = backups[-1]
    manifest = verify(newest, progress)
    if manifest.database != "sqlite":
        raise Refused(f"{newest} holds no database")
    staging = archive.staging_beside(database)
    try:
        archive.read(newest, None, lambda name: staging / name)
        copied = staging / archive.DATABASE
        problem = snapshot.integrity_problem(copied)
        if problem:
            raise Damaged(f"its database does not pass SQLite's check ({problem})")
        aside = database.with_name(f"{database.name}.undone-{_stamp(now())}")
        if database.exists():
            os.replace(database, aside)
        for suffix in ("-wal", "-shm"):  # belong to the database set aside
            side = database.with_name(database.name + suffix)
            if side.exists():
                os.replace(side, aside.with_name(aside.name + suffix))
        os.replace(copied, database)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return newest, aside
