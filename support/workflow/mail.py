"""Acting on mail that came in (issue 23): an applicant's answer by email is the same
answer as one from their status page; a delivery report marks the email it reports; the
rest is recorded, and a person who wrote to the wrong place is told where to go.

Each message is taken once: its receipt key is written in the transaction that acts on
it (``InboundMail.key`` is unique), so a receiver that dies before the commit leaves no
trace and takes it again, and one that dies after finds it taken.

Which application a message belongs to, in this order and never by its subject alone
(``_thread``): our own Message-ID in In-Reply-To or References, believed only when the
sender is the application's email or the message was sent to its reply address; then
the signed reply address itself (``support+TOKEN@…``); then a reference in the subject,
only from the application's confirmed email.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from support.config import Settings
from support.data.models import (
    Application,
    Channel,
    DeliveryStatus,
    Event,
    InboundMail,
    Notification,
    Status,
)
from support.documents.refusals import Refused
from support.documents.storage import StagedFile, check_document, sanitise_filename
from support.documents.store import DocumentStore
from support.notify.inbox.parse import Incoming
from support.notify.inbox.reply_text import new_text
from support.notify.outbox import notify_applicant, write_email
from support.platform import i18n, tokens
from support.platform.i18n import N_
from support.rules.kinds import EMAILED, UPLOADABLE
from support.rules.validation import FieldError
from support.workflow.applicant import Upload, answer_request, file_documents, filing_of
from support.workflow.machine import APPLICANT, OPEN, locked

log = logging.getLogger("support.mail")

# What became of a message (``InboundMail.outcome``), in words for the reviewers' list.
OUTCOMES: dict[str, str] = {
    "reply": "An answer to a request for information",
    "message": "Added to its application",
    "report": "A delivery report",
    "automatic": "Automatic mail, not answered",
    "unmatched": "No application found",
    "unreadable": "Could not be read",
    "oversize": "Too large to take",
}
# What reviewers are shown to read (mail that reached no application).
LISTED = ("unmatched", "unreadable", "oversize")

# The most of an email's text kept as the applicant's words, and of an unmatched one's.
MAX_WORDS = 5000
MAX_EXCERPT = 2000
# One polite answer an hour to an address, whatever it sends.
ANSWER_EVERY = timedelta(hours=1)
RETURNED = "Returned by the recipient's mail server"
# Why an attached file was not taken, beside the upload checks' own reasons.
UNREADABLE_FILE = N_("This file could not be read.")
TOO_MANY_FILES = N_("Only the first %(count)s files of one email are taken.")
CLOSED = N_("This application is closed, so files are no longer added to it.")


@dataclass(frozen=True)
class Taken:
    outcome: str
    reference: str | None = None
    documents: int = 0
    refused: list[str] = field(default_factory=list)


def lmtp_key(raw: bytes) -> str:
    """An LMTP delivery's receipt: the same message delivered again after a crash (the
    mail server retries what we did not answer) has the same bytes."""
    return "lmtp:" + hashlib.sha256(raw).hexdigest()


async def known(keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    rows = await InboundMail.filter(key__in=list(keys)).values_list("key", flat=True)
    return {str(key) for key in rows}


def _local_part_token(address: str) -> str | None:
    local = address.partition("@")[0]
    return local.split("+", 1)[1] if "+" in local else None


async def _by_token(settings: Settings, recipients: Sequence[str]) -> Application | None:
    for address in recipients:
        token = _local_part_token(address)
        reference = tokens.reference_of_reply_token(settings.secret_key, token) if token \
            else None
        if reference is not None:
            return await Application.get_or_none(reference=reference)
    return None


async def _by_message_id(refers_to: Sequence[str]) -> Application | None:
    """The application of the first of our emails the message refers to. Our Message-IDs
    are ``<outbox key@host>`` (notify.backends.build_email)."""
    keys = [key for mid in refers_to[:20] if (key := mid.partition("@")[0]).endswith(".email")]
    if not keys:
        return None
    # One statement for all of them (on the unique index), then the likeliest first.
    found = dict(await Notification.filter(idempotency_key__in=keys, application_id__isnull=False)
                 .values_list("idempotency_key", "application_id"))
    first = next((found[key] for key in keys if key in found), None)
    return None if first is None else await Application.get_or_none(id=first)


def _is_from(incoming: Incoming, application: Application) -> bool:
    return bool(incoming.sender) and incoming.sender == application.email.lower()


async def _thread(settings: Settings, incoming: Incoming,
                  envelope: Sequence[str]) -> Application | None:
    recipients = [*envelope, *incoming.recipients]
    by_token = await _by_token(settings, recipients)
    answered = await _by_message_id(incoming.refers_to)
    if answered is not None and (_is_from(incoming, answered)
                                 or (by_token is not None and by_token.id == answered.id)):
        found: Application | None = answered
    elif by_token is not None:
        found = by_token
    else:
        found = None
        reference = tokens.reference_in(incoming.subject)
        if reference is not None:
            named = await Application.get_or_none(reference=reference)
            if named is not None and named.verified_at is not None and _is_from(incoming, named):
                found = named
    if found is not None and found.redacted_at is not None:
        return None  # erased: nothing is added to it, and it is not named in an answer
    return found


async def take(settings: Settings, store: DocumentStore, incoming: Incoming, key: str,
               envelope: Sequence[str] = ()) -> Taken:
    """Act on one message and record it under ``key``; what became of it."""
    if await InboundMail.filter(key=key).exists():
        return Taken("duplicate")
    try:
        if incoming.report is not None:
            return await _report(incoming, key)
        application = await _thread(settings, incoming, envelope)
        if incoming.automatic is not None:
            await _record(key, incoming, "automatic", application, detail=incoming.automatic)
            return Taken("automatic", application.reference if application else None)
        if incoming.problem is not None or application is None:
            return await _unmatched(settings, incoming, key, application)
        return await _from_applicant(settings, store, incoming, key, application)
    except IntegrityError:
        # Another receiver took the same message in the meantime (two LMTP deliveries
        # of one message at once): it is taken, once.
        if await InboundMail.filter(key=key).exists():
            return Taken("duplicate")
        raise


async def _record(key: str, incoming: Incoming, outcome: str,
                  application: Application | None, **values: Any) -> InboundMail:
    return await InboundMail.create(
        key=key, outcome=outcome, application=application, sender=incoming.sender[:254],
        subject=incoming.subject[:500], size=incoming.size, **values)


# Delivery reports ------------------------------------------------------------------------

async def _report(incoming: Incoming, key: str) -> Taken:
    """A bounce (permanent: the email is dead, the applicant's page offers to correct
    the address) or a delay (noted on the email's record). Believed only for one of our
    emails, sent to the address the report names."""
    report = incoming.report
    assert report is not None
    row = None
    if report.original_id and report.original_id.partition("@")[0].endswith(".email"):
        row = await Notification.get_or_none(
            idempotency_key=report.original_id.partition("@")[0], channel=Channel.EMAIL)
    if row is not None and report.recipient and report.recipient != row.recipient.lower():
        row = None  # a report about someone else: not this email's
    words = f"{report.status} {report.diagnostic}".strip()
    async with in_transaction():
        application = None
        if row is not None and row.application_id is not None:  # type: ignore[attr-defined]
            application = await Application.get_or_none(
                id=row.application_id)  # type: ignore[attr-defined]
        await _record(key, incoming, "report", application, notification=row,
                      detail=f"{report.action}: {words}"[:300])
        if row is None:
            return Taken("report")
        note = {"at": datetime.now(UTC).isoformat(),
                "error": f"{RETURNED}: {words}"[:500] if report.permanent
                else f"Delayed by the recipient's mail server: {words}"[:500]}
        if report.permanent:
            await Notification.filter(id=row.id).update(
                status=DeliveryStatus.DEAD, last_error=note["error"],
                attempt_log=[*row.attempt_log, note][-20:])
            if application is not None:
                await Event.create(application=application, actor="system",
                                   type="delivery_returned", internal=True,
                                   message=f"The {row.template} email to "
                                           f"{row.recipient} came back: {words}"[:1000])
        elif report.temporary:
            await Notification.filter(id=row.id).update(
                attempt_log=[*row.attempt_log, note][-20:])
    return Taken("report", application.reference if application else None)


# Mail from a person ----------------------------------------------------------------------

def _words(incoming: Incoming) -> str:
    text = new_text(incoming.plain, incoming.html).strip()
    if len(text) > MAX_WORDS:
        text = text[:MAX_WORDS].rstrip() + " […]"
    return text


def _purpose(application: Application) -> str:
    """Which slot an attachment fills: the one document asked for, else "sent by email"
    (the reviewer sees it and judges it, as they would a paper in an envelope)."""
    asked = [item for item in (application.info_request or {}).get("items", [])
             if item in UPLOADABLE] if application.status is Status.NEEDS_INFO else []
    return asked[0] if len(asked) == 1 else EMAILED


async def _checked(settings: Settings, incoming: Incoming,
                   purpose: str) -> tuple[list[Upload], list[dict[str, Any]]]:
    """Each attachment through the upload's checks; the accepted ones, and why each
    other one was refused (a msgid and its parameters, said in the applicant's language
    by the email that explains it)."""
    uploads: list[Upload] = []
    refused: list[dict[str, Any]] = []
    for attachment in incoming.attachments:
        name = sanitise_filename(attachment.filename)
        data = attachment.data
        staged = StagedFile(
            field=purpose, original_name=name, size=attachment.size,
            sha256=hashlib.sha256(data).hexdigest() if data is not None else "",
            too_large=data is None, head=(data or b"")[:64], content=data,
        )
        try:
            content_type = await check_document(staged, settings.max_file_bytes,
                                                settings.max_image_pixels)
        except FieldError as error:
            refused.append({"name": name, "why": error.message, "params": error.params})
            continue
        except Refused:
            refused.append({"name": name, "why": UNREADABLE_FILE, "params": {}})
            continue
        uploads.append(Upload(staged=staged, content_type=content_type))
    if incoming.attachments_over:
        refused.append({"name": "…", "why": TOO_MANY_FILES,
                        "params": {"count": len(incoming.attachments)}})
    return uploads, refused


async def _from_applicant(settings: Settings, store: DocumentStore, incoming: Incoming,
                          key: str, application: Application) -> Taken:
    """A reply to a request for information moves the application as the status page's
    answer does; any other message is added to its history (and its files, while it is
    open). The applicant is told by email what was taken, and why any file was not."""
    text = _words(incoming)
    open_now = application.status in OPEN
    uploads, refused = await _checked(settings, incoming, _purpose(application)) \
        if open_now else ([], [])
    if not open_now and incoming.attachments:
        refused = [{"name": sanitise_filename(a.filename),
                    "why": CLOSED, "params": {}} for a in incoming.attachments]
    async with filing_of(store) as filing:
        placed = await filing.put(uploads)
        async with in_transaction():
            fresh = await locked(application.reference)
            answers = fresh.status is Status.NEEDS_INFO and bool(text or uploads)
            if answers:
                await answer_request(fresh, text, uploads, placed, via="email")
            else:
                await Event.create(application=fresh, actor=APPLICANT, type="email_received",
                                   message=text or incoming.subject[:200], via="email")
                await file_documents(fresh, uploads, placed)
            outcome = "reply" if answers else "message"
            # An answer is acknowledged always (it happens once a request); other mail at
            # most once an hour an application, with a refused file always said: an
            # autoresponder that sends no RFC 3834 header, answering our acknowledgement,
            # then gets one more an hour, not a loop.
            tell = answers or bool(refused) or not await InboundMail.filter(
                application=fresh, answered=True,
                received_at__gte=datetime.now(UTC) - ANSWER_EVERY).exists()
            await _record(key, incoming, outcome, fresh, documents=len(uploads),
                          detail=_files_said(len(uploads), len(refused)),
                          answered=tell)
            if tell:
                await notify_applicant(fresh, "email_taken", {
                    "answered": answers, "closed": not open_now,
                    "documents": len(uploads), "refused": refused,
                    "in_reply_to": _threadable(incoming.message_id),
                }, channels=(Channel.EMAIL,))
            filing.committing = True
    log.info("mail %s taken for %s: %s", key[:24], application.reference, outcome)
    return Taken(outcome, application.reference, len(uploads),
                 [item["name"] for item in refused])


def _threadable(message_id: str) -> str:
    """A Message-ID fit to be written back in our In-Reply-To: theirs as sent, unless it
    could break the header (parse.read keeps only what sits between angle brackets, with
    no space; this keeps out the rest)."""
    return message_id if message_id.isprintable() and len(message_id) <= 250 else ""


def _files_said(taken: int, refused: int) -> str:
    """For the reviewers' Mail page (the desk's English): "1 file taken, 2 refused"."""
    words = f"{taken} file{'' if taken == 1 else 's'} taken"
    return f"{words}, {refused} refused" if refused else words


def _language(incoming: Incoming) -> str:
    """The language of an answer to someone we cannot place: what their mail says it is
    written in, else what its script shows (Devanagari is read as Hindi), else English."""
    declared = i18n.supported((incoming.language or "").split("-")[0].lower())
    if declared:
        return declared
    sample = f"{incoming.subject} {incoming.plain or ''}"[:2000]
    if any("\u0900" <= ch <= "\u097f" for ch in sample):
        return "hi"
    if any("\u0400" <= ch <= "\u04ff" for ch in sample):
        return "ru"
    return i18n.DEFAULT


async def _unmatched(settings: Settings, incoming: Incoming, key: str,
                     application: Application | None, outcome: str = "") -> Taken:
    """Mail we cannot place (or cannot read): listed for reviewers, and its sender told,
    at most once an hour, where applications are made and followed."""
    outcome = outcome or ("unreadable" if incoming.problem is not None else "unmatched")
    excerpt = "" if incoming.problem else _words(incoming)[:MAX_EXCERPT]
    since = datetime.now(UTC) - ANSWER_EVERY
    async with in_transaction():
        answered_lately = not incoming.sender or await InboundMail.filter(
            sender=incoming.sender, answered=True, received_at__gte=since).exists()
        await _record(key, incoming, outcome, application, excerpt=excerpt,
                      detail=incoming.problem or "", answered=not answered_lately)
        if not answered_lately:
            await write_email(incoming.sender, "mail_unmatched", {
                "in_reply_to": _threadable(incoming.message_id),
                "unreadable": incoming.problem is not None,
                "apply_url": f"{settings.base_url}/",
                "lookup_url": f"{settings.base_url}/status",
            }, _language(incoming))
    return Taken(outcome, application.reference if application else None)


async def take_oversize(settings: Settings, incoming: Incoming, key: str) -> Taken:
    """A message larger than ``mail_max_bytes`` (seen by its header alone): recorded and
    listed; its sender told, as for unplaceable mail, unless it is automatic."""
    if await InboundMail.filter(key=key).exists():
        return Taken("duplicate")
    if incoming.automatic is not None:
        await _record(key, incoming, "automatic", None, detail="too large; automatic")
        return Taken("automatic")
    return await _unmatched(settings, replace(incoming, problem="too_large"), key, None,
                            "oversize")
