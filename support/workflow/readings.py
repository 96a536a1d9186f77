"""What the worker read in a document, kept on its row (issue 26), and the risk signal
it may raise.

The findings are personal data like the document: they live on the ``Document`` row, so
erasure, retention and purging take them with it, and they are never logged or exported.
Recorded once per document (``read_at``); a document read again (none is, today) would
replace them.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from support.data.models import Application, Document
from support.documents.reading import Found
from support.workflow import risk


async def record(document: Document, found: list[Found]) -> bool:
    """Keep what was read; refresh the application's risk signals. False when another
    worker recorded it first."""
    values = [dataclasses.asdict(item) for item in found]
    now = datetime.now(UTC)
    kept = await Document.filter(id=document.id, read_at=None).update(findings=values,
                                                                        read_at=now)
    if not kept:
        return False
    document.findings, document.read_at = values, now
    application = await Application.get_or_none(id=document.application_id)  # type: ignore[attr-defined]
    if application is not None and application.redacted_at is None:
        await risk.refresh(application)
    return True
