"""Erasure on request: the applicant asks, from their status page, to be forgotten.

It is carried out once no review is open. A closed application (decided, withdrawn,
expired) is erased at once. An open one is erased right after its decision, not
withdrawn on the spot: the applicant applied to get an answer (an unlock permission, their
account back), and asking us not to keep their data afterwards does not mean giving that
up; ending the application on a tap of "erase" would surprise most people and cost them
days. Whoever no longer wants a decision withdraws (its own confirmation page) and can
then erase at once; an erasure already asked for follows the withdrawal by itself. The
worker checks every minute (``carry_out_requested``), so "right after" is within a
minute of the decision, the withdrawal or the expiry.

What goes and what stays is ``retention.redact``: the decision stays, for statistics. The
applicant is told by email and SMS: those outbox rows are written in the erasure's
transaction, before the address is redacted, and keep it until they are sent; the daily
purge redacts them afterwards. The status link keeps answering "your data was erased" for
``retention.ERASED_LINK_DAYS`` days (it is where people look after the message), then its
row is deleted and the link is simply unknown: we keep nothing that leads to the person.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum

from tortoise.transactions import in_transaction

from support.config import Settings
from support.data.models import Application, Document, Event, Status
from support.rules.kinds import KINDS, appeal_kind
from support.workflow import erasure_log
from support.workflow.machine import APPLICANT, locked
from support.workflow.retention import (
    BATCH,
    CLOSED,
    Progress,
    PurgeReport,
    batches,
    delete_files,
    redact,
)

log = logging.getLogger("support.retention")


class Erasure(StrEnum):
    """Where an application stands with erasure, for the pages."""

    NOW = "now"  # closed: confirming erases at once
    AFTER_DECISION = "after_decision"  # open: confirming erases right after the decision
    REQUESTED = "requested"  # asked for, waiting for the decision
    DONE = "done"


def erasure_state(application: Application) -> Erasure:
    if application.redacted_at is not None:
        return Erasure.DONE
    if application.status in CLOSED:
        return Erasure.NOW
    if application.erasure_requested_at is not None:
        return Erasure.REQUESTED
    return Erasure.AFTER_DECISION


def loses_appeal(application: Application, appealed: bool) -> bool:
    """Whether erasing would take away an appeal the applicant could still make: a
    refusal of an appealable kind not yet appealed, or such an application not yet decided
    (an appeal needs the data, and the erasure follows the decision at once)."""
    if appeal_kind(KINDS[application.kind]) is None or appealed \
            or application.redacted_at is not None:
        return False
    return application.status not in CLOSED or application.status is Status.REJECTED


def _now() -> datetime:
    return datetime.now(UTC)


async def request_erasure(settings: Settings, application: Application) -> Erasure:
    """Record the request and, if no review is open, carry it out in the same
    transaction. Asking twice is harmless. Returns the state afterwards."""
    now = _now()
    async with in_transaction():
        fresh = await locked(application.reference)
        if fresh.redacted_at is not None:
            return Erasure.DONE
        if fresh.erasure_requested_at is None:
            fresh.erasure_requested_at = now
            await Application.filter(id=fresh.id).update(erasure_requested_at=now)
            when = "at once" if fresh.status in CLOSED else "after the decision"
            await Event.create(application=fresh, actor=APPLICANT, type="erasure_requested",
                               internal=True,
                               message=f"The applicant asked for their personal data to be "
                               f"erased ({when}).")
        if fresh.status not in CLOSED:
            state = Erasure.REQUESTED
            keys: list[str] = []
        else:
            keys = await redact([fresh], now, requested=True)
            state = Erasure.DONE
    if state is Erasure.DONE:
        erasure_log.record(settings, [fresh.reference], now)
    await delete_files(settings, keys)
    log.info("application %s: erasure %s", fresh.reference,
             "done" if state is Erasure.DONE else "requested")
    return state


async def carry_out_requested(
    settings: Settings, now: datetime | None = None, *, dry_run: bool = False,
    size: int = BATCH, progress: Progress | None = None,
) -> PurgeReport:
    """Erase the applications whose erasure was asked for and whose review has ended
    since. Run by the worker every minute and by every purge."""
    moment = now or _now()
    report = PurgeReport()
    query = Application.filter(erasure_requested_at__isnull=False, redacted_at=None,
                               status__in=CLOSED)
    checked = 0
    async for rows in batches(query, size):
        checked += len(rows)
        ids = [row["id"] for row in rows]
        if dry_run:
            report.erased += len(ids)
            report.files += await Document.filter(application_id__in=ids).count()
        else:
            async with in_transaction():
                chosen = await Application.filter(
                    id__in=ids, redacted_at=None, status__in=CLOSED
                ).select_for_update(skip_locked=True)
                keys = await redact(chosen, moment, requested=True)
            erasure_log.record(settings, [row.reference for row in chosen], moment)
            await delete_files(settings, keys)
            report.erased += len(chosen)
            report.files += len(keys)
        if progress:
            progress("erasures asked for", checked, report.erased)
    if report.erased and not dry_run:
        log.info("erased %s applications on request", report.erased)
    return report
