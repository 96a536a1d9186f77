"""What the applicant does: apply, confirm, withdraw, answer (status links in
``status_links``, appeals in ``appeals``).

Each action is one transaction: it checks the transition (``machine.move``), changes the
application, appends the event and writes the notifications to send, all or nothing.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from support.config import Settings
from support.data import db, rows
from support.data.models import (
    Application,
    Channel,
    Document,
    Event,
    Notification,
    Status,
    Verification,
)
from support.documents.storage import Placed, StagedFile
from support.documents.store import DocumentStore
from support.notify.outbox import applicant_messages, notify_applicant
from support.platform import metrics, tokens
from support.platform.i18n import N_
from support.rules.kinds import KINDS, Kind, promised_hours
from support.workflow import risk
from support.workflow.machine import (
    ACTIVE,
    APPLICANT,
    APPLICANT_ACTOR,
    STATUS_WORDS,
    CodeRejected,
    DomainError,
    locked,
    move,
)
from support.workflow.status_links import new_status_link

log = logging.getLogger("support.workflow")

@dataclass(frozen=True)
class ApplicationInput:
    """Facts that have already passed every field check."""

    kind: Kind
    account_id: str
    country: str
    phone: str
    email: str
    model: str
    firmware: str
    firmware_channel: str
    imei: str | None
    reason: str
    locale: str
    # The applicant's IANA zone: chosen on the form where the country keeps several
    # times, else the country's own (rules/zones.py ``check_zone``); an appeal's is the
    # refused application's.
    time_zone: str | None = None


@dataclass(frozen=True)
class Upload:
    staged: StagedFile
    content_type: str


def _now() -> datetime:
    return datetime.now(UTC)


def _code_values(settings: Settings, application: Application, code: str) -> dict[str, Any]:
    now = _now()
    return {
        "code_hash": tokens.code_hash(settings.secret_key, application.reference, code),
        "expires_at": now + timedelta(seconds=settings.code_ttl_seconds),
        "attempts": 0,
        "last_sent_at": now,
    }


async def _new_code(settings: Settings, application: Application) -> str:
    """A fresh code for an application that has had one (a new one at submit is written
    with the application, in ``submit``)."""
    code = tokens.new_code()
    values = _code_values(settings, application, code)
    existing = await Verification.get_or_none(application=application)
    if existing is None:
        await Verification.create(application=application, sends=1, **values)
    else:
        await Verification.filter(id=existing.id).update(sends=existing.sends + 1, **values)
    return code


@dataclass
class _Filing:
    store: DocumentStore
    moved: list[str] = field(default_factory=list)
    committing: bool = False  # set as the transaction's body ends, before its COMMIT

    async def put(self, uploads: list[Upload]) -> list[Placed]:
        """Place the staged files (``DocumentStore.put``) and say where. Done before the
        transaction opens, so the database's write lock is never held across file-system
        work. Raises ``NotStored``.

        On the event loop: a file held in memory is at most 256 KB and only appended, a
        spilled one only renamed. A thread hop cost more than the work, and the second
        thread made the web process wait for a CPU (B1, alternating pairs: 8–9% more
        submissions a second on both databases, p99 unchanged)."""
        placed = []
        for upload in uploads:  # each key kept at once: a later refusal removes it too
            placed.append(await self.store.put(upload.staged))
            self.moved.append(placed[-1].key)
        return placed


@contextlib.asynccontextmanager
async def filing_of(store: DocumentStore) -> AsyncIterator[_Filing]:
    """Collect the keys of files placed in the store; if the transaction around them
    fails, delete them again, so no document outlives the row that should own it.

    A connection lost during the COMMIT leaves it unknown whether the rows were written
    (tests/test_faults.py met it on a PostgreSQL restart: an application whose receipt
    had been deleted). Then the database is asked once it answers again; while it cannot
    say, the files stay: an unowned file is less harm than an application's lost proof."""
    filing = _Filing(store)
    try:
        yield filing
    except BaseException as exc:
        if filing.moved and filing.committing and isinstance(exc, Exception) \
                and db.unavailable(exc):
            try:
                landed = await db.when_back(
                    Document.filter(storage_key=filing.moved[0]).exists)
            except Exception:  # noqa: BLE001 - still unknown: keep them
                log.warning("kept %s documents: their commit could not be confirmed",
                            len(filing.moved))
                landed = True
            if landed:
                raise
        for key in filing.moved:
            with contextlib.suppress(OSError):  # else the sweep finds it without a row
                await store.delete(key)
        raise


def _documents(uploads: list[Upload], placed: list[Placed]) -> list[Document]:
    """The rows for files placed by ``_Filing.put``, not yet linked to their application."""
    return [
        Document(
            purpose=upload.staged.field, content_type=upload.content_type,
            size=upload.staged.size, sha256=upload.staged.sha256, storage_key=where.key,
            spooled=where.spooled, original_name=upload.staged.original_name,
        )
        for upload, where in zip(uploads, placed, strict=True)
    ]


async def file_documents(
    application: Application, uploads: list[Upload], placed: list[Placed]
) -> None:
    """The rows for files added to an existing application."""
    documents = _documents(uploads, placed)
    for document in documents:
        document.application = application
    if documents:
        await Document.bulk_create(documents)


# One open application per kind per account: a second would only split the review. The
# refusal points to the link the applicant already holds and reveals nothing else.
OPEN_ALREADY = N_(
    "This account already has an application of this kind being handled. Follow it "
    "with the private link we sent you, or ask for the link again on the "
    "\"Check an application\" page."
)


# Where an application becomes open (confirmed, or an appeal filed) the rule is checked
# again: at submission it counts only confirmed applications, so two unconfirmed ones of
# one account could otherwise both be confirmed. Whoever confirms second may not be the
# one who sent the first: they learn where it stands, never its reference or contacts.
ONE_AT_A_TIME = N_(
    "This account already has another application of this kind, and it is %(status)s. "
    "We handle one at a time, so this one was not sent to reviewers. Follow the other one "
    "with its private link, or try again once it is decided."
)


async def ensure_none_open(
    connection: BaseDBAsyncClient, kind: str, account_id: str, own_id: int | None = None,
) -> None:
    """Raise DomainError when the account has an open (confirmed) application of this kind.

    Called inside the transaction that opens one, under a lock on (kind, account)
    (``db.serialise``): two confirmations at once take turns, and the second one's check
    sees the first one's commit. A check alone would not do: under READ COMMITTED both
    could read "none open" before either wrote."""
    await db.serialise(connection, "open-application", kind, account_id)
    others = Application.filter(kind=kind, account_id=account_id, status__in=list(ACTIVE))
    if own_id is not None:
        others = others.exclude(id=own_id)
    other = await others.using_db(connection).first()
    if other is not None:
        raise DomainError(ONE_AT_A_TIME, status=STATUS_WORDS[other.status])


async def submit(
    settings: Settings, store: DocumentStore, data: ApplicationInput, uploads: list[Upload],
    submission_key: str,
) -> Application:
    """Create the application, its documents, its first event and the code messages.

    A second submission of the same form (double click, a retry after a timeout) finds or
    hits the unique ``submission_key`` and returns the application the first one created.
    Raises DomainError when the account already has an open application of this kind.

    This is the desk's busiest path, so it is one statement on PostgreSQL
    (``rows.insert_with_children``: the rows, with the open-application check as its
    ``WHERE NOT EXISTS``) and a savepoint in the next group commit on SQLite
    (``sqlite_client.GroupCommit``). The other two checks need
    no query of their own: a twin form and a reference already drawn hit their unique
    constraints, and are sorted out afterwards, on that rare path. Risk signals are
    computed when the contact is confirmed (``verify``), which is when the application
    reaches reviewers; bots that never confirm cost nothing.
    """
    try:
        async with filing_of(store) as filing:
            placed = await filing.put(uploads)
            filing.committing = True  # the insert's statement (SQLite: its group) commits
            application = await _insert_new(settings, data, submission_key, uploads, placed)
    except _AlreadySubmitted as twin:
        return twin.application  # our copies of the files were removed on the way out
    log.info("application %s submitted", application.reference)
    metrics.submitted(application.kind)
    return application


async def _insert_new(
    settings: Settings, data: ApplicationInput, submission_key: str, uploads: list[Upload],
    placed: list[Placed],
) -> Application:
    """The application with its rows, under the first free reference drawn. Raises
    ``DomainError`` (the account has one open) or ``_AlreadySubmitted``."""
    for _ in range(REFERENCE_DRAWS):
        application = new_application(
            data, submission_key, tokens.new_reference(data.kind.prefix))
        try:
            inserted = await rows.insert_with_children(
                application, _first_rows(settings, application, uploads, placed),
                unless={"kind": data.kind.code, "account_id": data.account_id,
                        "status": list(ACTIVE)})
        except IntegrityError:
            await _twin(submission_key)
            if await Application.exists(reference=application.reference):
                continue  # the reference drawn was taken: draw again
            raise
        if not inserted:
            await _twin(submission_key)  # a twin is open too, so it lands here
            raise DomainError(OPEN_ALREADY)
        return application
    raise RuntimeError("no free reference")


def _first_rows(
    settings: Settings, application: Application, uploads: list[Upload],
    placed: list[Placed],
) -> list[Document | Event | Verification | Notification]:
    """What a new application is written with: its documents, the ``submitted`` event, a
    code, and the messages that carry it."""
    code = tokens.new_code()
    return [
        *_documents(uploads, placed),
        Event(actor=APPLICANT, type="submitted", to_status=Status.SUBMITTED.value),
        Verification(sends=1, **_code_values(settings, application, code)),
        *applicant_messages(application, "verification_code", {
            "code": code, "minutes": settings.code_ttl_seconds // 60,
        }),
    ]


# A reference has 8 random characters of 29: a clash is rare, and five in a row would
# mean the generator is broken.
REFERENCE_DRAWS = 5


class _AlreadySubmitted(Exception):
    def __init__(self, application: Application) -> None:
        self.application = application


async def _twin(submission_key: str) -> None:
    """Raise ``_AlreadySubmitted`` if this form was sent already (a double click, a retry
    after a timeout): its application is the answer, not an error."""
    earlier = await Application.get_or_none(submission_key=submission_key)
    if earlier is not None:
        raise _AlreadySubmitted(earlier)


async def free_reference(kind: Kind) -> str:
    """A reference not yet taken (8 random characters: a clash is rare, but checked)."""
    for _ in range(REFERENCE_DRAWS):
        reference = tokens.new_reference(kind.prefix)
        if not await Application.exists(reference=reference):
            break
    return reference


def new_application(
    data: ApplicationInput, submission_key: str, reference: str,
    appeal_of: Application | None = None,
) -> Application:
    """The row, not yet saved."""
    return Application(
        reference=reference, kind=data.kind.code,
        account_id=data.account_id, country=data.country, phone=data.phone,
        phone_reversed=data.phone[::-1],  # "its last digits" searched as a prefix
        email=data.email, model=data.model, firmware=data.firmware,
        firmware_channel=data.firmware_channel, imei=data.imei, reason=data.reason,
        locale=data.locale, submission_key=submission_key, priority=data.kind.priority,
        appeal_of=appeal_of, time_zone=data.time_zone,
    )


def ensure_unconfirmed(application: Application) -> None:
    """Raise DomainError unless the application still waits for its code."""
    if application.status is Status.SUBMITTED:
        return
    if application.verified_at is not None:
        raise DomainError("This application is already confirmed.")
    raise DomainError("This application is %(status)s and can no longer be confirmed.",
                      status=STATUS_WORDS[application.status])


async def verify(settings: Settings, reference: str, code: str) -> str:
    """Check the code; on success queue the application and return a private status link.

    A wrong code is counted even though the action fails: the count is committed before
    the refusal is raised, or guessing would be free.
    """
    refusal: CodeRejected | None = None
    async with in_transaction() as connection:
        application = await locked(reference)
        ensure_unconfirmed(application)
        verification = await Verification.get(application=application)
        if verification.attempts >= settings.code_attempts:
            raise CodeRejected("Too many wrong codes. Ask for a new code below.")
        if verification.expires_at <= _now():
            raise CodeRejected("This code has expired. Ask for a new code below.")
        expected = tokens.code_hash(settings.secret_key, application.reference, code.strip())
        if tokens.hmac_equal(expected, verification.code_hash):
            # Only now, with the contact proved: the status of another application is not
            # for someone who cannot show the code.
            await ensure_none_open(connection, application.kind, application.account_id,
                                    application.pk)
            link = await _confirm(settings, application)
        else:
            await Verification.filter(id=verification.id).update(
                attempts=verification.attempts + 1
            )
            left = settings.code_attempts - verification.attempts - 1
            refusal = (
                CodeRejected("That code is not right. You have %(left)s tries left.", left=left)
                if left > 0
                else CodeRejected("That code is not right, and it was the last try. "
                                  "Ask for a new code below.")
            )
    if refusal is not None:
        raise refusal
    await risk.refresh(application)  # it reaches the queue now: flags ready for the filter
    log.info("application %s confirmed", application.reference)
    return link


async def _confirm(settings: Settings, application: Application) -> str:
    now = _now()
    application.verified_at = now
    application.due_at = now + timedelta(
        hours=promised_hours(KINDS[application.kind], settings.sla_hours))
    await move(application, "verify", APPLICANT_ACTOR, "Contact confirmed; waiting for review.")
    await Verification.filter(application=application).delete()
    link = await new_status_link(settings, application)
    await notify_applicant(application, "received", {
        "status_url": link, "decide_by": application.due_at.isoformat()})
    return link


class TooSoon(DomainError):
    """A new code asked for before ``code_resend_after_seconds`` have passed since the
    last one: ``seconds`` is the wait left (the page says it in words, with plurals)."""

    def __init__(self, seconds: int) -> None:
        super().__init__(N_("Please wait %(seconds)s seconds before asking for a new code."),
                         seconds=seconds)
        self.seconds = seconds


def seconds_until_resend(settings: Settings, verification: Verification | None) -> int:
    """How long until a new code may be asked for: the verify page counts it down, and
    ``resend_code`` refuses until it is 0."""
    if verification is None:
        return 0
    elapsed = (_now() - verification.last_sent_at).total_seconds()
    return max(0, math.ceil(settings.code_resend_after_seconds - elapsed))


async def resend_code(settings: Settings, reference: str) -> None:
    async with in_transaction():
        application = await locked(reference)
        ensure_unconfirmed(application)
        verification = await Verification.get(application=application)
        if verification.sends > settings.code_max_resends:
            raise DomainError("We have sent the code too many times. Please apply again.")
        wait = seconds_until_resend(settings, verification)
        if wait > 0:
            raise TooSoon(wait)
        code = await _new_code(settings, application)
        await notify_applicant(application, "verification_code",
                               {"code": code, "minutes": settings.code_ttl_seconds // 60})
        await Event.create(application=application, actor=APPLICANT, type="code_resent",
                           internal=True)


async def set_language(application: Application, lang: str) -> None:
    """The applicant picked a language on their own page: later messages follow it, since
    the form's language was only our best guess at theirs."""
    if lang != application.locale:
        application.locale = lang
        await Application.filter(id=application.id).update(locale=lang)


async def withdraw(application: Application) -> None:
    async with in_transaction():
        fresh = await locked(application.reference)
        await move(fresh, "withdraw", APPLICANT_ACTOR, "Withdrawn by the applicant.")
        await notify_applicant(fresh, "withdrawn", {})
    log.info("application %s withdrawn", application.reference)


async def answer_request(
    fresh: Application, message: str, uploads: list[Upload], placed: list[Placed],
    *, via: str = "", hold_hours: int = 24,
) -> None:
    """The answer itself, in the caller's transaction on the locked ``fresh``: the move
    back to the queue, held first for the reviewer who asked, and the files that came
    with it. From the status page (``reply``) and by email (``workflow.mail``)."""
    requester = (fresh.info_request or {}).get("reviewer_id")
    await move(fresh, "reply", APPLICANT_ACTOR, message, via=via)
    await file_documents(fresh, uploads, placed)
    fresh.held_for_id = requester
    fresh.held_until = _now() + timedelta(hours=hold_hours) if requester else None
    await fresh.save(update_fields=["held_for_id", "held_until"])


async def reply(
    settings: Settings, store: DocumentStore, application: Application, message: str,
    uploads: list[Upload], hold_hours: int = 24,
) -> None:
    """The applicant answers a request for information. The application goes back to the
    queue, held first for the reviewer who asked, who knows the case."""
    async with filing_of(store) as filing:
        placed = await filing.put(uploads)
        async with in_transaction():
            fresh = await locked(application.reference)
            await answer_request(fresh, message, uploads, placed, hold_hours=hold_hours)
            await notify_applicant(fresh, "reply_received", {}, channels=(Channel.EMAIL,))
            filing.committing = True
    if uploads:
        await risk.refresh(fresh)  # a new receipt may match another application's
    log.info("application %s answered", application.reference)
