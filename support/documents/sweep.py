"""Files nothing will ever claim, swept when the clock starts and every hour after.

A process killed in the middle of its work (``kill -9``, the OOM killer, a power cut), or
a database that could not be reached, leaves files that no row points to:

- ``tmp/upload-*``: a large upload streamed to disk while its request was read
  (``web.forms``); the request deletes it, unless it died first;
- a file under its key in ``documents/`` with no ``Document`` row: a spilled upload is
  moved to its key before the insert (``workflow.applicant``), so an insert that failed,
  or a process that died between the two, leaves it there;
- ``.sanitising-*`` beside them: the worker's safe copy being written
  (``images.replace_atomically``) when the worker died.

Retention reaches documents through their rows, so without this they would stay for ever.

Nothing a live request or worker may still claim is touched: a file goes only once it was
last written ``MIN_AGE`` ago, far longer than any request or re-encoding lasts (a spilled
upload keeps its mtime when moved to its key: its last byte's arrival, just before its
insert). The spool has its own sweep (``spool.Spool.sweep``) and is left alone.

The store may hold millions of files: its key folders are read one at a time and their
keys looked up ``BATCH`` at a time, so memory and each statement stay small; only a key
without a row costs a ``stat``. A database with no document at all sweeps none: that is a
worker pointed at the wrong database far more likely than a store of orphans.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import stat
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path

from support.config import Settings
from support.data.models import Document
from support.documents.storage import DocumentStore

log = logging.getLogger("support.documents")

MIN_AGE = 3600.0  # seconds since a file was last written before it may be swept
BATCH = 500  # keys per look-up: one short statement each, whatever the store's size

_UPLOAD = re.compile(r"upload-[0-9a-f]{24}")  # web.forms' names for spilled uploads
_FOLDER = re.compile(r"[A-Za-z0-9_-]{2}")  # DocumentStore's key folders
_KEY = re.compile(r"[A-Za-z0-9_-]{20,64}")  # DocumentStore.path's keys
_UNFINISHED = ".sanitising-"  # images.replace_atomically's prefix


@dataclass
class Swept:
    """How many of each kind of leftover went (counts only: never a name in the log)."""

    uploads: int = 0
    documents: int = 0
    unfinished: int = 0


async def sweep_leftovers(settings: Settings, now: float | None = None) -> Swept:
    """Delete the leftovers older than ``MIN_AGE`` (``now``: a Unix time, for tests) and
    log how many. Raises what the database raises: no document's file goes without it."""
    cutoff = (time.time() if now is None else now) - MIN_AGE
    swept = Swept()
    swept.uploads = await asyncio.to_thread(_sweep_uploads, settings.upload_tmp_dir, cutoff)
    await _sweep_store(DocumentStore.of(settings), cutoff, swept)
    log.info("leftover files swept: %d uploads in tmp/, %d documents without a row, "
             "%d unfinished copies", swept.uploads, swept.documents, swept.unfinished)
    return swept


def _sweep_uploads(folder: Path, cutoff: float) -> int:
    """In a thread: the old spilled uploads in ``folder``; other names are not ours."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:  # no large upload yet
        return 0
    return sum(_remove_if_old(Path(entry.path), cutoff) for entry in entries
               if _UPLOAD.fullmatch(entry.name))


async def _sweep_store(store: DocumentStore, cutoff: float, swept: Swept) -> None:
    """Each batch of keys looked up, and the files no row owns deleted. Not one if the
    database holds no document at all: a worker pointed at a new or wrong database would
    otherwise take every file of the store."""
    async with contextlib.aclosing(_key_batches(store.root, cutoff, swept)) as batches:
        first = True
        async for keys in batches:
            if first and not await Document.exists():
                log.warning("documents/ holds files but the database no document: none "
                            "swept (is this the desk's database?)")
                return
            first = False
            swept.documents += await _sweep_orphans(store, keys, cutoff)


async def _key_batches(root: Path, cutoff: float, swept: Swept
                       ) -> AsyncGenerator[list[str], None]:
    """The keys under ``root``, ``BATCH`` at a time, read a folder at a time in a thread;
    old unfinished copies met on the way are deleted (no row to ask about) and counted."""
    pending: list[str] = []
    for folder in await asyncio.to_thread(_key_folders, root):
        keys, unfinished = await asyncio.to_thread(_read_folder, folder, cutoff)
        swept.unfinished += unfinished
        pending += keys
        while len(pending) >= BATCH:
            yield pending[:BATCH]
            del pending[:BATCH]
    if pending:
        yield pending


def _key_folders(root: Path) -> list[Path]:
    try:
        return sorted(Path(entry.path) for entry in os.scandir(root)
                      if _FOLDER.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False))
    except FileNotFoundError:  # nothing stored yet
        return []


def _read_folder(folder: Path, cutoff: float) -> tuple[list[str], int]:
    """In a thread: the keys kept in ``folder`` (only where ``DocumentStore.path`` puts
    them), and how many old unfinished copies were deleted there (no row to ask about)."""
    keys: list[str] = []
    unfinished = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return keys, 0
    for entry in entries:
        if _KEY.fullmatch(entry.name) and entry.name[:2] == folder.name:
            keys.append(entry.name)
        elif entry.name.startswith(_UNFINISHED):
            unfinished += _remove_if_old(Path(entry.path), cutoff)
    return keys, unfinished


async def _sweep_orphans(store: DocumentStore, keys: list[str], cutoff: float) -> int:
    """Delete the files of ``keys`` that no row owns and that are old enough. A row that
    appears after the look-up belongs to a file written moments ago, which the age spares."""
    rows = await Document.filter(storage_key__in=keys).values_list("storage_key", flat=True)
    owned = {str(key) for key in rows}
    orphans = [store.path(key) for key in keys if key not in owned]
    if not orphans:
        return 0
    return await asyncio.to_thread(_remove_each_if_old, orphans, cutoff)


def _remove_each_if_old(paths: list[Path], cutoff: float) -> int:
    return sum(_remove_if_old(path, cutoff) for path in paths)


def _remove_if_old(path: Path, cutoff: float) -> bool:
    """Delete ``path`` if it is a plain file last written before ``cutoff``. Another
    worker sweeping at the same time may get there first: then it is not counted here."""
    try:
        found = path.lstat()
        if not stat.S_ISREG(found.st_mode) or found.st_mtime >= cutoff:
            return False
        path.unlink()
    except FileNotFoundError:
        return False
    return True
