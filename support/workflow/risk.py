"""Warnings computed from other applications: the duplicate checks a reviewer would do by hand.

Each signal is a few indexed queries (on imei, phone, account_id or the documents' sha256),
so one application costs a fixed number of round trips however large the tables grow.
What "the same IMEI, phone, account or receipt" means is ``data/sharing.py``, shared with
the related-applications panel (``reads/related.py``): a blank or redacted value matches
nothing in either. The
list of related references is capped at ``RELATED_LIMIT``, newest first, and the counts in
the reasons come from the database, never from loading rows into Python.

``refresh`` stores the result as ``RiskFlag`` rows. Flags are a snapshot: a new application
can make an older one's flags stale, so callers refresh whichever applications they show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from support.data import sharing
from support.data.models import Application, Document, RiskFlag, Status
from support.rules.catalogue import find_device
from support.rules.flags import FLAG_WORDS
from support.rules.kinds import KINDS, unlock_kinds

CODES: dict[str, str] = FLAG_WORDS  # each signal's code and its words (one dictionary)

RELATED_LIMIT = 20
RECENT_UNLOCK_DAYS = 30
SHARED_PHONE_DAYS = 90
SHARED_PHONE_MAX_ACCOUNTS = 3  # more accounts than this on one phone raises the flag


@dataclass(frozen=True)
class Signal:
    code: str
    reason: str
    related: list[str] = field(default_factory=list)


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def _as_utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now


async def _newest(query: QuerySet[Application]) -> list[str]:
    """The references of the newest ``RELATED_LIMIT`` applications of a queryset."""
    rows = (
        await query.order_by("-created_at", "-id")
        .limit(RELATED_LIMIT)
        .values_list("reference", flat=True)
    )
    return [str(reference) for reference in rows]


async def _references(query: QuerySet[Application]) -> tuple[list[str], int]:
    """``_newest`` and how many match in all: a second query only when the list is full."""
    references = await _newest(query)
    if len(references) < RELATED_LIMIT:
        return references, len(references)
    return references, await query.count()


async def _same_imei(application: Application) -> Signal | None:
    same = sharing.same(application, sharing.IMEI)
    if same is None:
        return None
    others = (
        Application.filter(same)
        .exclude(id=application.pk)
        .exclude(account_id=application.account_id)
        .exclude(status=Status.EXPIRED)
    )
    related, count = await _references(others)
    if not count:
        return None
    where = _plural(
        count, "1 application of another account", f"{count} applications of other accounts"
    )
    return Signal("same_imei", f"The same IMEI is in {where}.", related)


async def _same_receipt(application: Application) -> Signal | None:
    # One query: our receipts' hashes (document_application_idx) nested in the sha256
    # look-up (document_sha256_idx).
    twins = sharing.receipt_twins(application)
    if twins is None:
        return None
    others = Application.filter(id__in=Subquery(twins.values("application_id")))
    related, count = await _references(others)
    if not count:
        return None
    where = _plural(count, "1 other application", f"{count} other applications")
    return Signal("same_receipt", f"The same receipt file is in {where}.", related)


async def _recent_unlock(application: Application, now: datetime) -> Signal | None:
    since = now - timedelta(days=RECENT_UNLOCK_DAYS)
    same = sharing.same(application, sharing.ACCOUNT)
    if same is None:
        return None
    approved = Application.filter(
        same,
        kind__in=unlock_kinds(),
        status=Status.APPROVED,
        decided_at__gte=since,
        decided_at__lte=now,
    ).exclude(id=application.pk)
    rows = (
        await approved.order_by("-decided_at", "-id")
        .limit(RELATED_LIMIT)
        .values_list("reference", "decided_at")
    )
    if not rows:
        return None
    count = len(rows) if len(rows) < RELATED_LIMIT else await approved.count()
    latest = rows[0][1]
    what = _plural(count, "an unlock application", f"{count} unlock applications")
    when = f", the latest on {latest:%Y-%m-%d}" if count > 1 else f" on {latest:%Y-%m-%d}"
    return Signal(
        "recent_unlock",
        f"This account had {what} approved in the last {RECENT_UNLOCK_DAYS} days{when}.",
        [str(reference) for reference, _ in rows],
    )


async def _shared_phone(application: Application, now: datetime) -> Signal | None:
    since = now - timedelta(days=SHARED_PHONE_DAYS)
    same = sharing.same(application, sharing.PHONE)
    if same is None:
        return None
    others = (
        Application.filter(same, created_at__gte=since)
        .exclude(id=application.pk)
        .exclude(account_id=application.account_id)
    )
    counted = (
        await others.annotate(accounts=Count("account_id", distinct=True))
        .first()
        .values("accounts")
    )
    accounts = 1 + int((counted or {}).get("accounts") or 0)
    if accounts <= SHARED_PHONE_MAX_ACCOUNTS:
        return None
    return Signal(
        "shared_phone",
        f"This phone number is used by {accounts} accounts in applications "
        f"from the last {SHARED_PHONE_DAYS} days.",
        await _newest(others),
    )


def _unlock_not_offered(application: Application) -> Signal | None:
    kind = KINDS.get(application.kind)
    if kind is None or not kind.unlock_rules:  # only unlocking needs the model to offer it
        return None
    device = find_device(application.model)
    if device is None or device.unlock_offered:
        return None
    return Signal(
        "unlock_not_offered",
        f"Bootloader unlocking is not offered for the {device.name} ({device.codename}).",
        [],
    )


PLACES = {"receipt": "the receipt", "box_photo": "the box label"}


async def _imei_differs(application: Application) -> Signal | None:
    """An IMEI read from a document (``workflow.readings``) that is not the one typed. The
    reason names where, not the number: it is shown in lists and kept after the
    document goes."""
    if not application.imei:
        return None
    places = sorted({
        PLACES.get(purpose, "a document")
        for purpose, findings in await Document.filter(
            application_id=application.pk, read_at__isnull=False).values_list(
                "purpose", "findings")
        for item in findings or []
        if item.get("fact") == "imei" and item.get("value") != application.imei})
    if not places:
        return None
    return Signal("imei_differs", f"The IMEI read on {' and '.join(places)} is not the one "
                  "the applicant typed.", [])


async def compute(application: Application, now: datetime | None = None) -> list[Signal]:
    """Every signal that holds now, in the order of ``CODES``."""
    moment = _as_utc(now)
    found = [
        await _same_imei(application),
        await _same_receipt(application),
        await _recent_unlock(application, moment),
        await _shared_phone(application, moment),
        _unlock_not_offered(application),
        await _imei_differs(application),
    ]
    return [signal for signal in found if signal is not None]


async def refresh(application: Application, now: datetime | None = None) -> list[RiskFlag]:
    """Make the stored flags match ``compute``, in one transaction, and return them.

    The application row is locked first (on PostgreSQL), so two refreshes of the same
    application run one after the other instead of racing on the (application, code) key.
    """
    async with in_transaction():
        await Application.filter(id=application.pk).select_for_update().first()
        signals = {signal.code: signal for signal in await compute(application, now)}
        rows = await RiskFlag.filter(application_id=application.pk)
        existing = {flag.code: flag for flag in rows}
        stale = [flag.pk for code, flag in existing.items() if code not in signals]
        if stale:
            await RiskFlag.filter(id__in=stale).delete()
        current: list[RiskFlag] = []
        for code, signal in signals.items():
            flag = existing.get(code)
            if flag is None:
                flag = await RiskFlag.create(
                    application_id=application.pk,
                    code=code,
                    reason=signal.reason,
                    related=signal.related,
                )
            elif flag.reason != signal.reason or flag.related != signal.related:
                flag.reason, flag.related = signal.reason, signal.related
                await flag.save(update_fields=["reason", "related"])
            current.append(flag)
    return current
