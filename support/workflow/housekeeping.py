"""The system's own state changes, run by the clock every minute (``clock.jobs``):
unconfirmed applications expire, unanswered requests expire, idle claims go back."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from support.config import Settings
from support.data.models import Application, Document, Status, Verification
from support.documents.storage import DocumentStore
from support.notify.outbox import notify_applicant
from support.workflow.machine import SYSTEM_ACTOR, locked, move

log = logging.getLogger("support.workflow")

CLAIM_LEASE = timedelta(minutes=30)
INFO_REPLY_DAYS = 14


async def expire_unverified(settings: Settings, now: datetime | None = None) -> int:
    """Applications never confirmed within the limit expire; their documents go too."""
    cutoff = (now or datetime.now(UTC)) - timedelta(hours=settings.unverified_ttl_hours)
    stale = await Application.filter(status=Status.SUBMITTED, created_at__lt=cutoff)
    store = DocumentStore.of(settings)
    for application in stale:
        async with in_transaction():
            fresh = await locked(application.reference)
            if fresh.status is not Status.SUBMITTED:
                continue
            await move(fresh, "expire", SYSTEM_ACTOR, "Not confirmed within 24 hours.")
            await Verification.filter(application=fresh).delete()
            keys = await Document.filter(application=fresh).values_list("storage_key", flat=True)
            await Document.filter(application=fresh).delete()
        for key in keys:
            store.delete(str(key))
    return len(stale)


async def expire_unanswered(now: datetime | None = None) -> int:
    """No answer to a request for information within 14 days: the application expires,
    and the applicant is told they may apply again."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=INFO_REPLY_DAYS)
    stale = await Application.filter(status=Status.NEEDS_INFO, info_requested_at__lt=cutoff)
    for application in stale:
        async with in_transaction():
            fresh = await locked(application.reference)
            if fresh.status is not Status.NEEDS_INFO:
                continue
            await move(fresh, "expire", SYSTEM_ACTOR,
                       "No answer to our request for information within 14 days.")
            await notify_applicant(fresh, "expired_no_reply", {})
    return len(stale)


async def release_stale_claims(now: datetime | None = None) -> int:
    """A claim is a lease: 30 minutes without activity and the application goes back to
    the queue, so nothing sits with a reviewer who went home."""
    cutoff = (now or datetime.now(UTC)) - CLAIM_LEASE
    stale = await Application.filter(status=Status.IN_REVIEW, last_activity_at__lt=cutoff)
    for application in stale:
        async with in_transaction():
            fresh = await locked(application.reference)
            if fresh.status is not Status.IN_REVIEW or fresh.last_activity_at is None or \
                    fresh.last_activity_at >= cutoff:
                continue
            await move(fresh, "release", SYSTEM_ACTOR,
                       "Returned to the queue after 30 minutes without activity.",
                       internal=True)
            fresh.assignee_id = None
            fresh.claimed_at = None
            await fresh.save(update_fields=["assignee_id", "claimed_at"])
    return len(stale)
