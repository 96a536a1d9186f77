"""The system's own state changes, run by the clock every minute (``clock.jobs``):
unconfirmed applications expire, unanswered requests expire, idle claims go back."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from support.config import Settings
from support.data.models import Application, Document, Status, Verification
from support.documents.storage import DocumentStore
from support.notify.outbox import notify_applicant
from support.rules.kinds import KINDS
from support.workflow.machine import SYSTEM_ACTOR, locked, move

log = logging.getLogger("support.workflow")

CLAIM_LEASE = timedelta(minutes=30)


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
            await move(fresh, "expire", SYSTEM_ACTOR,
                       f"Not confirmed within {settings.unverified_ttl_hours} hours.")
            await Verification.filter(application=fresh).delete()
            keys = await Document.filter(application=fresh).values_list("storage_key", flat=True)
            await Document.filter(application=fresh).delete()
        for key in keys:
            store.delete(str(key))
    return len(stale)


async def expire_unanswered(now: datetime | None = None) -> int:
    """No answer to a request for information within the days its kind allows
    (``Kind.info_reply_days``): the application expires, and the applicant is told they may
    apply again."""
    now = now or datetime.now(UTC)
    kinds_by_days: dict[int, list[str]] = {}
    for kind in KINDS.values():
        kinds_by_days.setdefault(kind.info_reply_days, []).append(kind.code)
    late = Q(*(Q(kind__in=codes, info_requested_at__lt=now - timedelta(days=days))
               for days, codes in kinds_by_days.items()), join_type=Q.OR)
    stale = await Application.filter(late, status=Status.NEEDS_INFO)
    for application in stale:
        days = KINDS[application.kind].info_reply_days
        async with in_transaction():
            fresh = await locked(application.reference)
            if fresh.status is not Status.NEEDS_INFO:
                continue
            await move(fresh, "expire", SYSTEM_ACTOR,
                       f"No answer to our request for information within {days} days.")
            await notify_applicant(fresh, "expired_no_reply", {})  # days: from its kind
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
