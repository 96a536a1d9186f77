"""``support backup``, ``support restore`` and ``support replay-erasures`` (issue 25): a
desk into one archive and back, and the backup ``support migrate`` takes first.

``archive`` (the tar and its sealed manifest), ``desk`` (what a desk's backup holds, and
putting it back), ``progress`` (what the operator sees while it runs). As part of the
command layer it may import anything below it; nothing imports it but ``cli``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from support.cli.backups import desk
from support.cli.backups.archive import Damaged, Manifest
from support.cli.backups.progress import Progress, size
from support.config import Settings
from support.data import db
from support.workflow import erasure_log


def add_parsers(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    backup = command(
        commands, "backup", "write the desk into one archive, while it runs",
        "Write one archive (a tar file) of this desk: a consistent copy of the SQLite "
        "database made with SQLite's online backup (never a copy of the file), the "
        "documents and the spooled uploads, the secret key that signs status links, and "
        "the erasure log, with a manifest of counts and SHA-256 checksums. Applicants and "
        "reviewers carry on while it runs. On PostgreSQL the database is backed up with "
        "PostgreSQL's own tools (docs/deploy.md, \"Backups\") and the archive holds the "
        "rest; with SUPPORT_STORAGE_URL the documents stay in the bucket. The archive "
        "holds personal data and the secret key: keep it as safe as the desk. "
        "With --verify, check an archive instead, without restoring it.",
        ["support backup /backups/desk-$(date +%F).tar",
         "support backup /backups/                    # /backups/desk-2026-12-06T031500Z.tar",
         "support backup --verify /backups/desk-2026-12-06.tar",
         "15 3 * * * cd /srv/desk && .venv/bin/support backup --quiet "
         "/backups/desk-$(date +\\%F).tar   # crontab"],
    )
    backup.add_argument("path", type=Path, help="the archive to write (or to check); a "
                        "folder: desk-DATE.tar in it")
    backup.add_argument("--verify", action="store_true",
                        help="check every file of the archive against its manifest")
    backup.add_argument("--quiet", action="store_true", help="only the summary")
    backup.set_defaults(func=cmd_backup)

    restore = command(
        commands, "restore", "put a desk back from an archive, into an empty data dir",
        "Check the whole archive against its checksums, then put the desk in it into "
        "SUPPORT_DATA_DIR, which must be empty or missing: a damaged archive writes "
        "nothing. Erasures carried out after the backup was taken are carried out again: "
        "those in the archive's own erasure log, and those in --erasures (the lost desk's "
        "erasures.log, or SUPPORT_ERASURE_LOG's copy). Then `support serve` runs the "
        "restored desk: status links, codes, reviewers' sign-in and documents as before.",
        ["SUPPORT_DATA_DIR=/srv/desk/var support restore /backups/desk-2026-12-06.tar",
         "support restore desk.tar --erasures /mnt/old-disk/var/erasures.log"],
    )
    restore.add_argument("path", type=Path, help="the archive `support backup` wrote")
    restore.add_argument("--erasures", type=Path, metavar="LOG",
                         help="an erasure log newer than the archive, to carry out again")
    restore.add_argument("--quiet", action="store_true", help="only the summary")
    restore.set_defaults(func=cmd_restore)

    replay = command(
        commands, "replay-erasures", "carry out again the erasures in an erasure log",
        "For a desk whose database was restored by other means (a PostgreSQL dump): "
        "erase again every application in the log that the database does not show as "
        "erased. The applicants are not told again.",
        ["support replay-erasures /mnt/old-disk/var/erasures.log"],
    )
    replay.add_argument("log", type=Path, help="an erasure log (erasures.log)")
    replay.set_defaults(func=cmd_replay_erasures)


def _when(created: str) -> str:
    return datetime.fromisoformat(created).strftime("%Y-%m-%d %H:%M:%S UTC")


def _many(count: int, thing: str) -> str:
    return f"{count:,} {thing}" + ("" if count == 1 else "s")


def _summary(manifest: Manifest) -> str:
    counts = manifest.counts
    parts = [_many(counts["application"], "application") if "application" in counts else
             "no database (PostgreSQL: back it up with its own tools)",
             _many(manifest.documents_count(), "document file")
             if manifest.documents == "disk" else
             "documents left in the bucket" if manifest.documents == "bucket" else "",
             size(manifest.bytes)]
    return ", ".join(part for part in parts if part)


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    progress = Progress(quiet=args.quiet)
    # The desk it copies comes first: on a small machine the web process and the backup
    # share the cores (B10: the submissions' p99 during a backup).
    os.nice(10)
    try:
        if args.verify:
            if not args.path.is_file():
                progress.say(f"support backup --verify: there is no file {args.path}")
                return 1
            manifest = desk.verify(args.path, progress)
            progress.say(f"{args.path} is whole: {_summary(manifest)}, from "
                         f"{_when(manifest.created)}.")
            return 0
        if args.path.is_dir():  # a folder of backups: a name that sorts by date
            args.path = args.path / f"desk-{datetime.now(UTC):%Y-%m-%dT%H%M%SZ}.tar"
        manifest = desk.take(settings, args.path.resolve(), progress)
    except Damaged as exc:
        progress.say(f"support backup: {args.path} is damaged: {exc}")
        return 1
    except desk.Refused as exc:
        progress.say(f"support backup: {exc}")
        return 1
    except OSError as exc:
        progress.say(f"support backup: {args.path}: {exc.strerror or exc}; no archive written")
        return 1
    progress.say(f"Wrote {args.path}: {_summary(manifest)}.")
    if manifest.database == "postgresql":
        progress.say("The database is on PostgreSQL: back it up with pg_dump or a base "
                     "backup with WAL archiving (docs/deploy.md, \"Backups\").")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    progress = Progress(quiet=args.quiet)
    try:
        restored = desk.restore(settings, args.path, progress, args.erasures)
    except Damaged as exc:
        progress.say(f"support restore: {args.path} is damaged: {exc}. Nothing was written.")
        return 1
    except desk.Refused as exc:
        progress.say(f"support restore: {exc}. Nothing was written.")
        return 1
    progress.say(f"Restored the desk of {_when(restored.manifest.created)} into "
                 f"{settings.data_dir}: {_summary(restored.manifest)}.")
    if restored.erased_again:
        progress.say(f"Erased again {_many(restored.erased_again, 'application')} whose "
                     "applicants had asked after the backup (the erasure log).")
    if restored.pending_migrations:
        progress.say("This version of the desk is newer than the backup: run "
                     "`support migrate`, then `support serve`.")
    else:
        progress.say("Start it with `support serve`.")
    return 0


def cmd_replay_erasures(settings: Settings, args: argparse.Namespace) -> int:
    if not args.log.is_file():
        print(f"support replay-erasures: there is no erasure log at {args.log}", file=sys.stderr)
        return 1
    references = erasure_log.read(args.log)

    async def replay() -> int:
        await db.init(settings.database_url)
        try:
            return await erasure_log.replay(settings, references)
        finally:
            await db.close()

    erased = asyncio.run(replay())
    print(f"{len(references)} erasures in the log; {erased} carried out again.")
    return 0


def migrate_safely(settings: Settings, migrate: Callable[[], None]) -> int:
    """``support migrate``: on SQLite, a backup of the database first; if the upgrade
    fails, say how to undo it."""
    progress = Progress()
    try:
        backup = desk.before_migrate(settings, progress)
    except (OSError, desk.Refused) as exc:
        progress.say(f"support migrate: could not back the database up first ({exc}); "
                     "nothing was changed")
        return 1
    if backup is not None:
        progress.say(f"Backed the database up first: {backup}")
    try:
        migrate()
    except Exception as exc:
        if backup is None:
            raise
        progress.say(f"support migrate: the upgrade failed ({type(exc).__name__}: {exc}). "
                     f"`support migrate --undo` puts back the database as it was ({backup}).")
        return 1
    return 0


def undo_migrate(settings: Settings) -> int:
    progress = Progress()
    try:
        backup, aside = desk.undo_migrate(settings, progress)
    except (Damaged, desk.Refused) as exc:
        progress.say(f"support migrate --undo: {exc}. Nothing was changed.")
        return 1
    progress.say(f"Put back the database from {backup}; the upgraded one is kept as {aside}.")
    return 0
