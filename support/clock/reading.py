"""The worker reads filed documents (issue 26): barcodes and printed text, through
``documents.reading``, after a document is made safe and before a reviewer is likely to
open it.

It runs in the upkeep loop, beside filing, never in the messages loop: codes and status
links are never held back by it. Reading is in a thread (Tesseract in a process of its
own, bounded by ``READ_SECONDS``), a document at a time, within ``TICK_BUDGET`` seconds a
tick; a document that cannot be read is recorded as read with nothing found, so it is
not tried again every tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from support.config import Settings
from support.data.models import Document
from support.documents import reading
from support.documents.store import DocumentStore
from support.reads.findings import READ_PURPOSES
from support.workflow import readings
from support.workflow.retention import CLOSED

log = logging.getLogger("support.documents")

TICK_BUDGET = 5.0
READ_SECONDS = 20.0
READABLE = ("image/jpeg", "image/png", "image/webp", "application/pdf")


async def read_pending(settings: Settings, budget: float = TICK_BUDGET,
                       stop: asyncio.Event | None = None,
                       busy: Callable[[], bool] | None = None) -> int:
    """Read filed documents not yet read, oldest first, until ``budget`` is spent (at
    least one). Returns how many were read. While ``busy`` says the cores are contended
    (a burst of applications), nothing: reading is never urgent, and Tesseract takes a
    core for a second or two."""
    if busy is not None and busy():
        return 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    store = DocumentStore.of(settings)
    done = 0
    while True:
        # Only what a reviewer may still decide on: after an upgrade, the documents kept
        # from closed applications are not worth a core each.
        batch = await Document.filter(
            sanitised_at__isnull=False, read_at=None, purpose__in=READ_PURPOSES,
        ).exclude(application__status__in=CLOSED).order_by("id").limit(10)
        if not batch:
            return done
        for document in batch:
            found: list[reading.Found] = []
            if document.content_type in READABLE:
                try:
                    async with store.local_copy(document.storage_key) as path:
                        found = await asyncio.to_thread(
                            reading.read_file, path, document.content_type,
                            purpose=document.purpose, seconds=READ_SECONDS)
                except OSError as error:  # the store is away: try again next tick
                    log.warning("documents not read this tick (%s); trying again later",
                                error.strerror or type(error).__name__)
                    return done
            await readings.record(document, found)
            done += 1
            if loop.time() >= deadline or (stop is not None and stop.is_set()):
                return done
