"""Documents made safe before any reviewer sees them.

Re-encoding a photo costs a full decode and encode, so it never runs in the submission
request (bench B1 measures that path), and neither does creating the document's file: an
upload held in memory waits in the spool (``spool``) and its file is written here, once,
as the safe copy. The worker sanitises pending documents
(``sanitised_at`` is null) for about a second of each tick, and the reviewer's document
route sanitises one the worker has not reached yet before serving it. Both may meet the
same document (two workers, a worker and a reviewer): the work is idempotent and the row
is marked with a compare-and-set, so the race costs only time.

A document that cannot be made safe is marked (``storage.UNSAFE`` before its type, so the
type is not lost), an internal event says so on the timeline, and the reviewer is shown
that instead of the file. Its file is deleted when the file itself is at fault (refused by
the checks); when our code failed instead it is kept, for an operator to look at.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tortoise.transactions import in_transaction

from support.config import Settings
from support.data.models import Document, Event
from support.documents import rendering
from support.documents.refusals import DESCRIPTIONS, Refused
from support.documents.spool import Place
from support.documents.storage import UNSAFE, one_large_file, sanitise
from support.documents.store import IN_BUCKET, DocumentStore

log = logging.getLogger("support.documents")

PDF = "application/pdf"

TICK_BUDGET = 1.0  # seconds of sanitising per worker tick: codes must not wait behind photos
BATCH = 10


def is_unsafe(document: Document) -> bool:
    return document.content_type.startswith(UNSAFE + ":")


async def sanitise_document(settings: Settings, document: Document) -> bool:
    """Make the document's file safe to serve, if it is not yet; True if it may be served.

    An ``OSError`` from the disk itself (full, failing) is raised as is: the file is not at
    fault and is tried again later."""
    if document.sanitised_at is not None:
        return not is_unsafe(document)
    store = DocumentStore.of(settings)
    max_pixels = settings.max_image_pixels

    def work(source: bytes | Path, target: Path) -> int:
        return sanitise(source, target, document.content_type, max_pixels)

    try:
        async with one_large_file():
            size = await store.make_safe(document.storage_key, document.spooled, work)
    except Refused as refusal:
        await _mark_unsafe(document, DESCRIPTIONS[refusal.reason])
        await store.delete(document.storage_key)
        log.warning("document %s could not be made safe: %s", document.id, refusal)
        return False
    except FileNotFoundError:
        await _mark_unsafe(document, "its file is missing")
        log.warning("document %s could not be made safe: its file is missing", document.id)
        return False
    except OSError:
        raise
    except Exception:  # noqa: BLE001 - our failure, not the file's: marked, the file kept
        log.exception("document %s could not be made safe", document.id)
        await _keep_as_uploaded(store, document)
        await _mark_unsafe(document, "an error on our side")
        return False
    now = datetime.now(UTC)
    marked = await Document.filter(id=document.id, sanitised_at=None).update(
        sanitised_at=now, size=size, spooled=None
    )
    if not marked and not await Document.exists(id=document.id):
        await store.delete(document.storage_key)  # the row went (erased) while we worked
    elif marked:
        await store.filed(document.storage_key)
        if document.content_type == PDF:
            await count_pages(store, document)
    document.sanitised_at, document.size, document.spooled = now, size, None
    return True


async def count_pages(store: DocumentStore, document: Document) -> int | None:
    """A safe PDF's page count, kept on its row (0: PDFium cannot draw it), so the
    application page reads it instead of starting PDFium (100-140 ms the first time a web
    process shows the PDF). None, and nothing kept, when its file is out of reach now:
    the page counts it then."""
    try:
        pages = await rendering.page_count_or_none(
            functools.partial(store.local_copy, document.storage_key), document.storage_key)
    except OSError:  # the safe copy gone, the disk or the bucket out of reach
        return None
    await Document.filter(id=document.id).update(page_count=pages or 0)
    document.page_count = pages or 0
    return pages


async def _keep_as_uploaded(store: DocumentStore, document: Document) -> None:
    """Our code failed on this upload: an operator looks at it under its key, as it came."""
    try:
        await store.keep_as_uploaded(document.storage_key, document.spooled)
    except OSError:
        log.warning("document %s could not be kept for an operator", document.id)


async def _mark_unsafe(document: Document, why: str) -> None:
    now = datetime.now(UTC)
    marked_type = f"{UNSAFE}:{document.content_type}"
    async with in_transaction():
        marked = await Document.filter(id=document.id, sanitised_at=None).update(
            sanitised_at=now, content_type=marked_type, spooled=None
        )
        if marked:
            await Event.create(
                application_id=document.application_id,  # type: ignore[attr-defined]
                actor="system", type="document_unsafe", internal=True,
                message=f"The {document.purpose.replace('_', ' ')} ({document.original_name}) "
                        f"could not be made safe to open ({why}), so it is "
                        "not shown. Ask the applicant for another copy if it is needed.",
            )
    document.sanitised_at, document.content_type, document.spooled = now, marked_type, None


async def sweep_spool(settings: Settings) -> int:
    """Delete the spool files no document waits in (``spool.Spool.sweep``); the worker
    runs it with the clock's actions, every minute."""
    waiting = await Document.filter(sanitised_at=None, spooled__not_isnull=True).values_list(
        "spooled", flat=True)
    spooled = DocumentStore.of(settings).spool
    if spooled is None:  # uploads wait in the bucket, not in a spool
        return 0
    segments = {Place.parse(str(place)).segment for place in waiting
                if str(place) != IN_BUCKET}
    return await asyncio.to_thread(spooled.sweep, segments)


async def sanitise_pending(
    settings: Settings, budget: float = TICK_BUDGET, stop: asyncio.Event | None = None,
    may_wait: Callable[[datetime], bool] | None = None,
) -> int:
    """The worker's share of a tick: pending documents, oldest first, until ``budget``
    seconds are spent (at least one document each tick). Returns how many were handled.
    A disk error ends the tick's share: every other document would meet it too. While
    ``may_wait`` says the oldest may wait (the clock's pacing: the cores are contended and it
    has not waited too long), one document."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    handled, after = 0, 0
    while True:
        batch = await Document.filter(sanitised_at=None, id__gt=after).order_by("id").limit(BATCH)
        if not batch:
            return handled
        if after == 0 and may_wait is not None and may_wait(batch[0].created_at):
            deadline = loop.time()
        for document in batch:
            after = document.id
            try:
                await sanitise_document(settings, document)
            except OSError as error:
                log.warning("documents not sanitised this tick (disk: %s); trying again later",
                            error.strerror or type(error).__name__)
                return handled
            handled += 1
            if loop.time() >= deadline or (stop is not None and stop.is_set()):
                return handled
