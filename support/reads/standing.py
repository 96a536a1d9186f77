"""What the applicant's status page reads beyond the application itself: its history with
the applicant's own words and the files they sent, the appeal linked to it either way, and
when to expect the next thing.

Applicant-facing: nothing here names a reviewer or shows an internal note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from support.data.models import Application, Document, Event, Permission, Status
from support.rules.kinds import EMAILED, EMAILED_LABEL, KINDS, expected_by, promised_hours

# The events after which the applicant's files arrive: the form, and each answer.
_SENDING = ("submitted", "reply", "email_received")


@dataclass(frozen=True)
class SentFile:
    name: str  # the applicant's own file name
    label: str  # what it is, a msgid ("Purchase receipt")


@dataclass
class Entry:
    event: Event
    files: list[SentFile] = field(default_factory=list)

    @property
    def own_words(self) -> str:
        """The applicant's answer, as they wrote it (kept until redaction blanks it)."""
        return self.event.message if self.event.type in {"reply", "email_received"} else ""

    @property
    def our_words(self) -> str:
        """What a reviewer asked, as the applicant was sent it: still there to read after
        the answer, when the request's box has gone."""
        return self.event.message if self.event.type == "request_info" else ""


def _labels() -> dict[str, str]:
    """Each document slot's name, in words (the same slot name means the same thing in
    every kind)."""
    labels = {slot.name: slot.label for kind in KINDS.values() for slot in kind.documents}
    return {**labels, EMAILED: EMAILED_LABEL}


async def history(application: Application) -> list[Entry]:
    """The applicant's timeline, oldest first, each sending of files with the files' names
    and kinds (not the files): a document belongs to the form or the answer whose event
    is nearest in time (they are written in one transaction)."""
    events = await Event.filter(application=application, internal=False).order_by("at", "id")
    entries = [Entry(event) for event in events]
    senders = [entry for entry in entries if entry.event.type in _SENDING]
    if not senders:
        return entries
    labels = _labels()
    documents = await Document.filter(application=application, uploaded_by="applicant") \
        .order_by("created_at", "id").only("original_name", "purpose", "created_at")
    for document in documents:
        nearest = min(senders, key=lambda entry: abs(
            (entry.event.at - document.created_at).total_seconds()))
        nearest.files.append(SentFile(document.original_name,
                                      labels.get(document.purpose, document.purpose)))
    return entries


@dataclass(frozen=True)
class Linked:
    """The other end of an appeal: its reference, state, and when it was decided."""

    reference: str
    status: Status
    decided_at: datetime | None
    decision_code: str | None


async def appeal_of(application: Application) -> Linked | None:
    """The appeal against this refusal, if the applicant made one."""
    row = await Application.filter(appeal_of_id=application.id).first()
    return _linked(row)


async def original_of(application: Application) -> Linked | None:
    """The refused application this one appeals."""
    original_id = application.appeal_of_id  # type: ignore[attr-defined]
    if original_id is None:
        return None
    return _linked(await Application.get_or_none(id=original_id))


async def linked_application(application: Application) -> Application | None:
    """The application at the other end of an appeal: the appeal against this one, else
    the one this appeals."""
    appeal = await Application.filter(appeal_of_id=application.id).first()
    if appeal is not None:
        return appeal
    original_id = application.appeal_of_id  # type: ignore[attr-defined]
    return await Application.get_or_none(id=original_id) if original_id is not None else None


def _linked(row: Application | None) -> Linked | None:
    if row is None:
        return None
    return Linked(row.reference, row.status, row.decided_at, row.decision_code)


@dataclass(frozen=True)
class Promise:
    """When the applicant may expect a decision: the promised moment, or, once the desk is
    late, that moment and the new expectation."""

    by: datetime
    late: bool
    promised: datetime


def decision_promise(application: Application, overrides: dict[str, int],
                     now: datetime) -> Promise | None:
    """For an application waiting on the desk (queued or in review); None otherwise."""
    if application.status not in (Status.QUEUED, Status.IN_REVIEW) or application.due_at is None:
        return None
    hours = promised_hours(KINDS[application.kind], overrides)
    expected = expected_by(application.due_at, timedelta(hours=hours), now)
    return Promise(by=expected, late=expected != application.due_at, promised=application.due_at)


def answer_by(application: Application) -> datetime | None:
    """Until when a request for information may be answered."""
    if application.status is not Status.NEEDS_INFO or application.info_requested_at is None:
        return None
    return KINDS[application.kind].answer_due(application.info_requested_at)


async def permission_of(application: Application) -> Permission | None:
    """What an approved unlock granted (revoked or not); None for anything else."""
    if application.status is not Status.APPROVED:
        return None
    return await Permission.get_or_none(application_id=application.id)
