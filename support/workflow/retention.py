"""The retention policy: what we stop keeping, and when.

Documents go ``document_retention_days`` (90) after an application closes; its personal
data is redacted ``pii_retention_days`` (365) after. "Closes" is the decision for an
approved or refused application, and the expiry or withdrawal event for one that ended
otherwise (``last_activity_at`` would do most of the time, but a reviewer reading an old
application renews it and would postpone the purge).

What is kept is what statistics need and identifies nobody: the reference, kind, status,
country, model, firmware, language, the dates, the decision and its reason code (and the
reviewers' own words: decisions and notes). What goes: account ID, phone, email, IMEI,
the reason, the applicant's replies and any text of theirs in events (replies, the file
names in "document viewed", delivery errors quoting an address), verification codes,
documents (files and rows: the application keeps ``documents_purged_at``, which the
reviewer's page shows instead of the list), notification recipients and contexts (only
once sent or dead: a row still pending keeps its recipient so it is delivered), and, after
a grace period, the status links.

Redacted values are ``redacted-<id>``: distinct per row, so no present or future unique
constraint can collide and no risk signal (same phone, same account, recent unlock) can
join a redacted row to another one; never an E.164 number or an address with ``@``, so the
"send me my link again" look-up can never match one. The IMEI becomes NULL (the same-IMEI
signal skips a missing one).

Everything is done in batches (``BATCH``) read by keyset (``id > last``), so a million
rows never sit in memory, and each batch is one transaction that re-reads its rows with
``FOR UPDATE SKIP LOCKED`` (PostgreSQL) and re-checks them: two workers purging at once
take different rows, and a second run finds nothing to do.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from tortoise.expressions import Q, Subquery
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from support.config import Settings
from support.data.models import (
    AccessToken,
    Application,
    DeliveryStatus,
    Document,
    Event,
    InboundMail,
    Notification,
    Status,
    Verification,
)
from support.data.rows import update_each
from support.documents.store import DocumentStore
from support.notify.outbox import notify_applicant
from support.workflow.machine import SYSTEM

log = logging.getLogger("support.retention")
M = TypeVar("M", bound=Model)

BATCH = 500
DECIDED = (Status.APPROVED, Status.REJECTED)
ENDED_OTHERWISE = (Status.EXPIRED, Status.WITHDRAWN)
CLOSED = (*DECIDED, *ENDED_OTHERWISE)
# A status link keeps answering "your data was erased" this long after the erasure (the
# confirmation message sends people there); then its row goes and the link is unknown.
ERASED_LINK_DAYS = 30
RETRY_AFTER = timedelta(hours=1)  # after a failed daily run
REDACTED = "redacted-{id}"

# (step, rows looked at so far, rows acted on so far): `support purge` prints it after
# every batch, so a long run shows it is moving even while nothing is due.
Progress = Callable[[str, int, int], None]


@dataclass
class PurgeReport:
    """Counts only: this is what the log line and the CLI print, never a name or number."""

    erased: int = 0  # applications erased at the applicant's request
    documents: int = 0  # applications whose documents were deleted by the policy
    files: int = 0
    redacted: int = 0  # applications redacted by the policy
    notifications: int = 0  # outbox rows whose recipient and context were redacted
    links: int = 0  # status links deleted after the grace period
    mail: int = 0  # mail no application was found for, its sender and words blanked

    def add(self, other: PurgeReport) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def summary(self) -> str:
        return (f"{self.erased} erased on request, documents of {self.documents} applications "
                f"({self.files} files), {self.redacted} redacted, "
                f"{self.notifications} notifications redacted, {self.links} status links deleted"
                + (f", {self.mail} unplaced emails redacted" if self.mail else ""))


def _now() -> datetime:
    return datetime.now(UTC)


def redacted(application_id: int) -> str:
    return REDACTED.format(id=application_id)


async def batches(
    query: QuerySet[M], size: int, *columns: str
) -> AsyncIterator[list[dict[str, Any]]]:
    """Rows of ``query`` by ascending id, ``size`` at a time, whatever the table's size.
    Rows changed by the caller between batches simply drop out of the query."""
    last = 0
    while True:
        rows = await query.filter(id__gt=last).order_by("id").limit(size).values("id", *columns)
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]


async def closed_at(rows: list[dict[str, Any]]) -> dict[int, datetime]:
    """When each closed application ended: its decision, or its expiry or withdrawal
    (one indexed look-up for the batch). Rows made without an event fall back to their
    last change."""
    ended: dict[int, datetime] = {}
    others = []
    for row in rows:
        if row["status"] in DECIDED and row["decided_at"] is not None:
            ended[row["id"]] = row["decided_at"]
        else:
            others.append(row["id"])
    if others:
        events = await Event.filter(
            application_id__in=others, type__in=("expire", "withdraw")
        ).values_list("application_id", "at")
        for application_id, at in events:
            ended[application_id] = max(at, ended.get(application_id, at))
    for row in rows:
        ended.setdefault(row["id"], row["updated_at"])
    return ended


def closed_before(cutoff: datetime) -> Q:
    """What SQL can tell of "closed before the cutoff", so a run reads the rows that may
    be due rather than a year of closed ones: a decision before it, or an application
    that ended otherwise and was created before it (it cannot have ended earlier).
    ``closed_at`` then decides each row exactly."""
    return (Q(status__in=DECIDED, decided_at__lt=cutoff)
            | Q(status__in=DECIDED, decided_at__isnull=True, created_at__lt=cutoff)
            | Q(status__in=ENDED_OTHERWISE, created_at__lt=cutoff))


async def _due(rows: list[dict[str, Any]], cutoff: datetime) -> list[int]:
    ended = await closed_at(rows)
    return [row["id"] for row in rows if ended[row["id"]] < cutoff]


async def _due_batches(
    query: QuerySet[Application], cutoff: datetime, size: int, progress: Progress | None,
    step: str, done: Callable[[], int],
) -> AsyncIterator[list[int]]:
    """The ids of each batch of ``query`` that closed before ``cutoff`` (batches with none
    are skipped), reporting progress after each batch once the caller has acted on it."""
    checked = 0
    async for rows in batches(query, size, "status", "decided_at", "updated_at"):
        checked += len(rows)
        due = await _due(rows, cutoff)
        if due:
            yield due
        if progress:
            progress(step, checked, done())


def _locked(ids: Iterable[int], **still: Any) -> QuerySet[Application]:
    """The rows still in the state we chose them for, locked; rows another worker holds
    are skipped (it is doing the same job with them)."""
    return Application.filter(id__in=list(ids), **still).select_for_update(skip_locked=True)


async def drop_documents(ids: list[int], now: datetime, why: str) -> list[str]:
    """Delete the document rows of these (locked) applications, mark them and note it on
    each timeline. Returns the storage keys: the caller deletes the files once the
    transaction has committed, so a rollback never leaves rows pointing at nothing."""
    if not ids:
        return []
    docs = await Document.filter(application_id__in=ids).values_list("application_id",
                                                                      "storage_key")
    if not docs:
        return []
    counts: dict[int, int] = {}
    for application_id, _key in docs:
        counts[application_id] = counts.get(application_id, 0) + 1
    await Document.filter(application_id__in=list(counts)).delete()
    await Application.filter(id__in=list(counts)).update(documents_purged_at=now)
    await Event.bulk_create([
        Event(application_id=application_id, actor=SYSTEM, type="documents_purged",
              internal=True, message=f"Documents deleted {why} ({count} "
              f"{'file' if count == 1 else 'files'}).")
        for application_id, count in counts.items()
    ])
    return [str(key) for _id, key in docs]


async def delete_files(settings: Settings, keys: list[str]) -> None:
    """The files of rows already deleted and committed. A store out of reach leaves them
    to the sweep of leftovers (``documents.sweep``), which finds no row for them."""
    store = DocumentStore.of(settings)
    for key in keys:
        try:
            await store.delete(key)
        except OSError as error:
            log.warning("a deleted document's file stays for the sweep: %s", error)


async def redact(rows: list[Application], now: datetime, *, requested: bool,
                 tell: bool = True) -> list[str]:
    """Redact these applications, locked by the caller's transaction. On request, the
    applicant is told first (unless ``tell`` is False: an erasure carried out again after
    a restore): the outbox rows take the address while it is still there, and keep it
    until they are sent. Returns the storage keys of documents to delete."""
    if not rows:
        return []
    why = "at the applicant's request" if requested else "under the retention policy"
    ids = [row.id for row in rows]
    if requested and tell:
        for row in rows:
            await notify_applicant(row, "erased", {})
    keys = await drop_documents(
        [row.id for row in rows if row.documents_purged_at is None], now, why
    )
    for row in rows:
        placeholder = redacted(row.id)
        row.account_id = row.phone = row.email = placeholder
        row.phone_reversed = ""  # the phone's last digits no longer find it
        row.imei = None
        row.reason = ""
        row.redacted_at = now
    await update_each(rows, ("account_id", "phone", "phone_reversed", "email", "imei", "reason",
                             "redacted_at"))
    await Verification.filter(application_id__in=ids).delete()
    # The timeline is never rewritten, except to take out the applicant's own words: their
    # replies, their file names in "viewed" notes, delivery errors quoting their address.
    await Event.filter(
        Q(application_id__in=ids)
        & (Q(actor="applicant", type__in=("reply", "email_received"))
           | Q(type__in=("document_viewed", "delivery_failed", "delivery_returned")))
    ).exclude(message="").update(message="")
    # Their mail's record keeps what became of it, not who wrote what (issue 23).
    await InboundMail.filter(application_id__in=ids).update(sender="", subject="", excerpt="")
    await Event.bulk_create([
        Event(application_id=application_id, actor=SYSTEM, type="redacted", internal=True,
              message=f"Personal data redacted {why}.")
        for application_id in ids
    ])
    return keys


async def purge_documents(
    settings: Settings, now: datetime, *, dry_run: bool = False, size: int = BATCH,
    progress: Progress | None = None,
) -> PurgeReport:
    """Documents of applications closed more than ``document_retention_days`` ago."""
    report = PurgeReport()
    cutoff = now - timedelta(days=settings.document_retention_days)
    with_documents = Subquery(Document.all().values("application_id"))
    query = Application.filter(closed_before(cutoff), documents_purged_at=None,
                               id__in=with_documents)
    async for due in _due_batches(query, cutoff, size, progress, "documents",
                                  lambda: report.documents):
        if dry_run:
            report.documents += len(due)
            report.files += await Document.filter(application_id__in=due).count()
            continue
        async with in_transaction():
            ids = [row.id for row in await _locked(due, documents_purged_at=None)]
            keys = await drop_documents(ids, now, "under the retention policy")
        await delete_files(settings, keys)
        report.documents += len(ids)
        report.files += len(keys)
    return report


async def redact_expired(
    settings: Settings, now: datetime, *, dry_run: bool = False, size: int = BATCH,
    progress: Progress | None = None,
) -> PurgeReport:
    """Personal data of applications closed more than ``pii_retention_days`` ago."""
    report = PurgeReport()
    cutoff = now - timedelta(days=settings.pii_retention_days)
    query = Application.filter(closed_before(cutoff), redacted_at=None)
    async for due in _due_batches(query, cutoff, size, progress, "personal data",
                                  lambda: report.redacted):
        if dry_run:
            report.redacted += len(due)
            report.files += await Document.filter(application_id__in=due).count()
            continue
        async with in_transaction():
            locked = await _locked(due, redacted_at=None)
            keys = await redact(locked, now, requested=False)
        await delete_files(settings, keys)
        report.redacted += len(locked)
        report.files += len(keys)
    return report


async def redact_notifications(
    now: datetime, *, dry_run: bool = False, size: int = BATCH, progress: Progress | None = None,
) -> PurgeReport:
    """Recipients and contexts of redacted applications' messages, once each is sent or
    dead (a pending one still needs its address)."""
    report = PurgeReport()
    query = Notification.filter(
        application_id__in=Subquery(Application.filter(redacted_at__isnull=False).values("id")),
        status__in=(DeliveryStatus.SENT, DeliveryStatus.DEAD),
    ).exclude(recipient="")
    async for rows in batches(query, size):
        ids = [row["id"] for row in rows]
        if not dry_run:
            await Notification.filter(id__in=ids).exclude(recipient="").update(
                recipient="", context={}, last_error="", attempt_log=[]
            )
        report.notifications += len(ids)
        if progress:
            progress("notifications", report.notifications, report.notifications)
    return report


async def redact_unplaced_mail(
    settings: Settings, now: datetime, *, dry_run: bool = False, size: int = BATCH,
    progress: Progress | None = None,
) -> PurgeReport:
    """Mail no application was found for: its sender, subject and words are personal data
    of someone the desk has no application of, kept ``document_retention_days`` for a
    reviewer to read, then blanked (the row stays: it is the receipt that stops the same
    message being taken twice)."""
    report = PurgeReport()
    cutoff = now - timedelta(days=settings.document_retention_days)
    query = InboundMail.filter(application_id=None, received_at__lt=cutoff) \
        .filter(Q(sender__not="") | Q(subject__not="") | Q(excerpt__not=""))
    async for rows in batches(query, size):
        ids = [row["id"] for row in rows]
        if not dry_run:
            await InboundMail.filter(id__in=ids).update(sender="", subject="", excerpt="")
        report.mail += len(ids)
        if progress:
            progress("unplaced mail", report.mail, report.mail)
    return report


async def delete_links(
    now: datetime, *, dry_run: bool = False, size: int = BATCH, progress: Progress | None = None,
) -> PurgeReport:
    """Status links of applications redacted more than ``ERASED_LINK_DAYS`` ago."""
    report = PurgeReport()
    cutoff = now - timedelta(days=ERASED_LINK_DAYS)
    query = AccessToken.filter(application_id__in=Subquery(
        Application.filter(redacted_at__lt=cutoff).values("id")
    ))
    async for rows in batches(query, size):
        ids = [row["id"] for row in rows]
        if not dry_run:
            await AccessToken.filter(id__in=ids).delete()
        report.links += len(ids)
        if progress:
            progress("status links", report.links, report.links)
    return report
