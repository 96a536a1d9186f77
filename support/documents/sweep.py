"""Files nothing will ever claim, swept when the clock starts and every hour after.

A process killed in the middle of its work (``kill -9``, the OOM killer, a power cut), or
a database that could not be reached, leaves files that no row points to:

- ``tmp/upload-*``: a large upload streamed to disk while its request was read
  (``web.forms``); the request deletes it, unless it died first;
- a file under its key in ``documents/`` with no ``Document`` row: a spilled upload is
  moved to its key before the insert (``workflow.applicant``), so an insert that failed,
  or a process that died between the two, leaves it there;
- ``.sanitising-*`` beside them: the worker's safe copy being written
  (``images.replace_atomically``) when the worker died;
- with a bucket (``store.BucketStore``), ``uploads/KEY`` and ``documents/KEY`` objects
  without a row, and in ``tmp/`` the copies a worker was filing or a viewer drawing.

Retention reaches documents through their rows, so without this they would stay for ever.

Nothing a live request or worker may still claim is touched: a file goes only once it was
last written ``MIN_AGE`` ago, far longer than any request or re-encoding lasts (a spilled
upload keeps its mtime when moved to its key: its last byte's arrival, just before its
insert). The spool has its own sweep (``spool.Spool.sweep``) and is left alone.

The store may hold millions of files: it is read a folder (or a listing's page) at a
time and keys looked up ``BATCH`` at a time, so memory and each statement stay small.
A database with no document at all sweeps none: that is a
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
from support.documents.store import DocumentStore, Stored

log = logging.getLogger("support.documents")

MIN_AGE = 3600.0  # seconds since a file was last written before it may be swept
BATCH = 500  # keys per look-up: one short statement each, whatever the store's size

# web.forms' names for spilled uploads; a bucket store's copies being filed or drawn
# (``store.BucketStore``), and their safe copies being written (``.sanitising-``).
_TEMPORARY = re.compile(r"(upload|filing|view)-[0-9a-f]{24}|\.sanitising-.*")


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
               if _TEMPORARY.fullmatch(entry.name))


async def _sweep_store(store: DocumentStore, cutoff: float, swept: Swept) -> None:
    """Each batch of keys looked up, and the files no row owns deleted. Not one if the
    database holds no document at all: a worker pointed at a new or wrong database would
    otherwise take every file of the store."""
    async with contextlib.aclosing(_old_batches(store, cutoff)) as batches:
        first = True
        async for found in batches:
            unfinished = [item for item in found if not item.key]
            swept.unfinished += sum([await store.forget(item) for item in unfinished])
            keys = [item for item in found if item.key]
            if not keys:
                continue
            if first and not await Document.exists():
                log.warning("the document store holds files but the database no document: "
                            "none swept (is this the desk's database?)")
                return
            first = False
            swept.documents += await _sweep_orphans(store, keys)


async def _old_batches(store: DocumentStore, cutoff: float
                       ) -> AsyncGenerator[list[Stored], None]:
    """What the store holds that was last written before ``cutoff``, ``BATCH`` at a time."""
    pending: list[Stored] = []
    async for found in store.keys():
        pending += [item for item in found if item.modified < cutoff]
        while len(pending) >= BATCH:
            yield pending[:BATCH]
            del pending[:BATCH]
    if pending:
        yield pending


async def _sweep_orphans(store: DocumentStore, found: list[Stored]) -> int:
    """Delete what no row owns. A row that appears after the look-up belongs to a file
    written moments ago, which the age spared."""
    keys = list({item.key for item in found})
    rows = await Document.filter(storage_key__in=keys).values_list("storage_key", flat=True)
    owned = {str(key) for key in rows}
    return sum([await store.forget(item) for item in found if item.key not in owned])


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
