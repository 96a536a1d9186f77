"""The system's own state changes, run by the clock every minute (``clock.jobs``):
unconfirmed applications expire, unanswered requests expire, idle claims go back, and an
unused permission near its end is reminded of once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from support.config import Settings
from support.data.models import (
    Application,
    Channel,
    Document,
    Event,
    Permission,
    Status,
    Verification,
)
from support.documents.store import DocumentStore
from support.notify.outbox import notify_applicant
from support.platform.formatting import format_when
from support.rules.kinds import KINDS
from support.workflow.machine import SYSTEM, SYSTEM_ACTOR, locked, move
from support.workflow.status_links import new_status_link

log = logging.getLogger("support.workflow")

CLAIM_LEASE = timedelta(minutes=30)
# An unused permission is reminded of once, when it has this long left.
REMIND_BEFORE = timedelta(days=2)


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
            await store.delete(str(key))
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



def _permission_kinds() -> list[str]:
    return [kind.code for kind in KINDS.values() if kind.permission is not None]


def _lapsing(now: datetime) -> Q:
    """Permissions that end within ``REMIND_BEFORE`` of ``now``, neither used nor reminded
    of: a range of the index on ``permission_expires_at``. Nothing here that another index
    leads with (status, kind, erasure): given those, SQLite would rather read every
    approved row of a kind than the range."""
    return Q(permission_expires_at__gt=now, permission_expires_at__lte=now + REMIND_BEFORE,
             permission_used_at=None, permission_reminded_at=None)


def _unreminded(now: datetime) -> Q:
    """The whole condition, for the claim of one row by its id: approved, of a kind with
    a permission, and the applicant neither forgotten nor asking to be."""
    return _lapsing(now) & Q(status=Status.APPROVED, kind__in=_permission_kinds(),
                             redacted_at=None, erasure_requested_at=None)


async def remind_unused_permissions(settings: Settings, now: datetime | None = None) -> int:
    """One reminder, by email and SMS, two days before an unused permission ends: what
    ends when, and what to do before then. Returns how many were sent.

    The rows are read as a range of ``permission_expires_at`` (its index: the approvals
    of two days, never every approved row) and the rest of the condition is checked on
    what the range holds. Each row is then claimed by setting ``permission_reminded_at``
    only where the whole condition still holds, in the transaction that writes the
    messages: of two workers at once, one changes the row and sends, the other changes
    nothing and sends nothing."""
    now = now or datetime.now(UTC)
    kinds = set(_permission_kinds())
    candidates = await Application.filter(_lapsing(now)).order_by(
        "permission_expires_at").values_list("id", "status", "kind", "redacted_at",
                                             "erasure_requested_at")
    due = [row[0] for row in candidates
           if row[1] == Status.APPROVED and row[2] in kinds and row[3] is None and row[4] is None]
    # A permission a lead revoked is not to be used: no "you have not used it yet".
    revoked = set(await Permission.filter(application_id__in=due, revoked_at__not_isnull=True)
                  .values_list("application_id", flat=True)) if due else set()
    due = [application_id for application_id in due if application_id not in revoked]
    sent = 0
    for application_id in due:
        async with in_transaction():
            claimed = await Application.filter(_unreminded(now), id=application_id).update(
                permission_reminded_at=now)
            if claimed != 1:
                continue  # another worker reminded, or it changed since it was read
            application = await Application.get(id=application_id)
            expires_at = application.permission_expires_at
            assert expires_at is not None  # the claim's condition
            context = {"expires_at": expires_at.isoformat(), "account": application.account_id,
                       "model": application.model}
            # The private link goes by email only: with it, the SMS would not fit in two
            # segments in Hindi, Marathi or Russian (tests/test_permission_reminder.py).
            link = await new_status_link(settings, application)
            await notify_applicant(application, "permission_reminder",
                                   {**context, "status_url": link}, channels=(Channel.EMAIL,))
            await notify_applicant(application, "permission_reminder", context,
                                   channels=(Channel.SMS,))
            await Event.create(
                application=application, actor=SYSTEM, type="permission_reminded",
                internal=True,
                message=f"The unlock permission ends on {format_when(expires_at)} and has not "
                        "been used: the applicant was reminded by email and SMS.")
        sent += 1
    if sent:
        log.info("reminded %s applicants of an unused permission", sent)
    return sent
