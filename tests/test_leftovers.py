"""Files a killed process leaves behind are swept (issue 19), and nothing else is.

After a ``kill -9`` during submissions, a spilled upload stays in ``tmp/`` and a file moved
to its key stays without its ``Document`` row; retention reaches documents only through
their rows. The sweep takes what is old enough that no live request can still claim it,
when the clock starts and every hour after.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tortoise.contrib.test import truncate_all_models

from support.app import create_app
from support.clock import jobs
from support.config import Settings
from support.data import db
from support.data.models import Document
from support.documents import sweep
from support.documents.store import DocumentStore, Stored
from tests.factories import make_application

OLD = time.time() - 2 * sweep.MIN_AGE  # a file last written two hours ago


def write(path: Path, data: bytes = b"%PDF-1.7 a receipt", *, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def orphan(settings: Settings, *, mtime: float | None = OLD) -> Path:
    """A document's file under a fresh key with no row, as a killed submission left it."""
    return write(DocumentStore.of(settings).path(secrets.token_urlsafe(24)), mtime=mtime)


def spilled(settings: Settings, *, mtime: float | None = OLD) -> Path:
    """A large upload streamed to ``tmp/`` (``web.forms``' name for it)."""
    return write(settings.upload_tmp_dir / f"upload-{secrets.token_hex(12)}", mtime=mtime)


async def owned(settings: Settings) -> Path:
    """An old document's file with its row: retention's, never the sweep's."""
    key = secrets.token_urlsafe(24)
    data = b"%PDF-1.7 kept"
    await Document.create(
        application=await make_application(), purpose="receipt", content_type="application/pdf",
        size=len(data), sha256=hashlib.sha256(data).hexdigest(), storage_key=key,
        original_name="bill.pdf", sanitised_at=datetime.now(UTC),  # the worker's done
    )
    return write(DocumentStore.of(settings).path(key), data, mtime=OLD)


def sweep_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "support.documents" and "leftover files swept" in r.getMessage()]


async def test_only_old_files_no_row_claims_are_swept(app, settings, caplog, monkeypatch):
    old_orphans = [orphan(settings) for _ in range(5)]
    young_orphan = orphan(settings, mtime=None)  # its insert may be under way right now
    kept = await owned(settings)
    old_upload, young_upload = spilled(settings), spilled(settings, mtime=None)
    unfinished = write(kept.parent / ".sanitising-k2j4h1", mtime=OLD)  # a worker died in it
    not_ours = [
        write(settings.upload_tmp_dir / "notes.txt", mtime=OLD),
        write(settings.documents_dir / "README", mtime=OLD),
        write(settings.spool_dir / f"{int(OLD):010d}-0123456789ab", mtime=OLD),  # spool's own
    ]
    looked_up: list[int] = []
    real_look_up = sweep._sweep_orphans

    async def counted(store: DocumentStore, found: list[Stored]) -> int:
        looked_up.append(len(found))
        return await real_look_up(store, found)

    monkeypatch.setattr(sweep, "BATCH", 2)  # the batches' edges, without 1,000 files
    monkeypatch.setattr(sweep, "_sweep_orphans", counted)
    caplog.set_level(logging.INFO, logger="support.documents")

    swept = await sweep.sweep_leftovers(settings)

    assert swept == sweep.Swept(uploads=1, documents=5, unfinished=1)
    assert not any(path.exists() for path in [*old_orphans, old_upload, unfinished])
    assert all(path.exists() for path in [young_orphan, kept, young_upload, *not_ours])
    # Every old key looked up, a batch at a time; a young one is not even asked about.
    assert sum(looked_up) == 6 and max(looked_up) <= 2, looked_up
    [line] = sweep_lines(caplog)
    assert line == ("leftover files swept: 1 uploads in tmp/, 5 documents without a row, "
                    "1 unfinished copies")
    assert kept.name not in caplog.text and old_orphans[0].name not in caplog.text


async def test_the_sweep_runs_when_the_worker_starts(settings, caplog):
    """``support serve`` starts the worker in its lifespan (``support worker`` runs the same
    loop): what the killed process left goes at once, not an hour later."""
    await db.init(settings.database_url)  # empty tables: the worker has only this to do
    await truncate_all_models()
    kept = await owned(settings)
    await db.close()
    left, young, upload = orphan(settings), orphan(settings, mtime=None), spilled(settings)
    caplog.set_level(logging.INFO, logger="support.documents")
    app = create_app(settings.with_(inprocess_worker=True))

    async with app.router.lifespan_context(app), asyncio.timeout(20):
        while left.exists() or upload.exists():
            await asyncio.sleep(0.05)

    assert young.exists() and kept.exists()
    assert sweep_lines(caplog), "the sweep did not say what it did"


async def test_the_clock_sweeps_every_hour_and_retries_a_failure(app, settings, monkeypatch,
                                                                  caplog):
    clock = jobs.Leftovers()
    monkeypatch.setattr(jobs, "LEFTOVERS", clock)
    await owned(settings)
    first = orphan(settings)
    await jobs.run_all(settings)  # the worker's first minute
    assert not first.exists()

    second = orphan(settings)
    await jobs.run_all(settings)  # the next minute: not yet
    assert second.exists()
    clock.last_run[settings.data_dir] -= jobs.LEFTOVERS_EVERY  # an hour later
    await jobs.run_all(settings)
    assert not second.exists()

    async def database_away(settings: Settings) -> sweep.Swept:
        raise ConnectionError("the database is not answering")

    clock.last_run.clear()
    monkeypatch.setattr(sweep, "sweep_leftovers", database_away)
    await jobs.run_all(settings)  # logged, and the jobs after it still run
    assert "sweeping leftover files failed" in caplog.text
    assert settings.data_dir not in clock.last_run, "a failed sweep must be tried again"


async def test_a_database_without_documents_sweeps_no_document(app, settings, caplog):
    """A worker started against a new or wrong database must not take the whole store."""
    stored = [orphan(settings) for _ in range(3)]
    upload = spilled(settings)

    swept = await sweep.sweep_leftovers(settings)

    assert swept == sweep.Swept(uploads=1)
    assert all(path.exists() for path in stored) and not upload.exists()
    assert "none swept (is this the desk's database?)" in caplog.text
