"""Rows made directly, for tests about the desk rather than the form (much faster)."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from support.config import Settings
from support.data.models import Application, Document, Event, Status
from support.documents.store import (
    DOCUMENTS,
    IN_BUCKET,
    UPLOADS,
    BucketStore,
    DiskStore,
    DocumentStore,
    client_of,
)
from support.platform import tokens
from support.rules.kinds import KINDS

_numbers = itertools.count(1)


async def make_application(**overrides: Any) -> Application:
    """A confirmed, queued application with unique reference, account, phone, email, IMEI
    and submission key unless overridden."""
    n = next(_numbers)
    now = datetime.now(UTC)
    kind = overrides.get("kind", "unlock")
    data: dict[str, Any] = {
        "reference": tokens.new_reference(KINDS[kind].prefix),
        "kind": kind,
        "status": Status.QUEUED,
        "account_id": f"6{n:09d}",
        "country": "IN",
        "phone": f"+9198{n:08d}",
        "email": f"owner{n}@example.com",
        "imei": f"35{n:013d}",
        "model": "Redmi Note 10 Pro",
        "firmware": "21.3.17",
        "firmware_channel": "developer",
        "reason": "I develop a custom kernel for this phone and need to flash test builds.",
        "priority": KINDS[kind].priority,
        "submission_key": f"test-{secrets.token_hex(16)}",
        "verified_at": now - timedelta(hours=1),
        "due_at": now + timedelta(hours=24),
    }
    data.update(overrides)
    data.setdefault("phone_reversed", data["phone"][::-1])  # as the form's path writes it
    return await Application.create(**data)


async def uploaded(settings: Settings, document: Document) -> bytes:
    """What the applicant sent as ``document``: its bytes in the spool (or the bucket's
    ``uploads/``) until the worker files it (``documents.filing``), else its file."""
    store = DocumentStore.of(settings)
    if isinstance(store, BucketStore):
        objects = await client_of(store.bucket)
        name = (UPLOADS if document.spooled == IN_BUCKET else DOCUMENTS) + document.storage_key
        return await objects.read(name)
    assert isinstance(store, DiskStore)
    source = store.source(document.storage_key, document.spooled)
    return source if isinstance(source, bytes) else source.read_bytes()


async def page_version(reference: str) -> str:
    """The version an application's page puts in its decision forms (``seen``): the newest
    event the page shows, "0" when it shows none. A test posting a decision sends it as the
    page would, opened just now (a decision without it is refused)."""
    newest = await (Event.filter(application__reference=reference)
                    .exclude(type="document_viewed").order_by("-id").first())
    return str(newest.id if newest else 0)
