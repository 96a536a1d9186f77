"""Reading the audit trail: what reviewers did (claims, releases, reassignments, notes,
decisions, document views), newest first, by reviewer, application and dates.

Nothing is written here. Reviewer actions are already ``Event`` rows with the actor
``reviewer:{id}`` (``workflow/review.py``, ``workflow/machine.move``, the document route),
so the trail cannot disagree with the timelines it is read from. Changes to reviewer
accounts (invitations, new links, second factors set up or removed, sessions ended,
deactivations, locks after wrong codes) belong to no application: they are
``AccountEvent`` rows (``accounts/history.py``), read here for the same page as a second
table with the same filters. Admin edits of canned responses are not recorded.

Pages are read by keyset on ``(at, id)``, never by OFFSET, from ``event_at_idx`` (at, id,
actor) or, for one reviewer, ``event_actor_at_idx`` (actor, at, id): a page's ids come from
the index alone and only its rows from the table, so the hundredth page of a million events
costs what the first does. A page is a fixed number of statements whatever its length:
the reviewers (for the filter and the names), the page's ids and rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from support.accounts.history import ACTIONS as ACCOUNT_ACTIONS
from support.data.ids import parse_id
from support.data.models import AccountEvent, Application, Event, Reviewer
from support.platform.tokens import parse_reference
from support.reads.queue import decode_cursor, encode_cursor
from support.reads.wording import event_plain, purpose_word

PAGE_SIZE = 50
ACTOR_PREFIX = "reviewer:"
DETAIL_CHARS = 300

# A document view's note names the upload slot by its code ("Viewed box_photo (…)."):
# a code that is not already a word ("receipt" is) is said in words on the page.
VIEWED = re.compile(r"^Viewed ([a-z]+_[a-z_]+) \(")


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()[:10]) if text.strip() else None
    except ValueError:
        return None


@dataclass(frozen=True)
class AuditFilters:
    reviewer: int | None = None
    reference: str = ""
    since: date | None = None  # from this day, 00:00 UTC
    until: date | None = None  # to the end of this day, UTC

    @classmethod
    def from_query(cls, params: dict[str, str]) -> AuditFilters:
        """Anything malformed is ignored, never an error page: these come from a URL."""
        reviewer = params.get("reviewer", "").strip()
        # Printable characters only: PostgreSQL refuses a NUL in a text parameter.
        reference = "".join(ch for ch in params.get("reference", "") if ch.isprintable())
        reference = reference.strip()[:32]
        return cls(
            reviewer=parse_id(reviewer),
            reference=parse_reference(reference) or reference,
            since=_day(params.get("from", "")),
            until=_day(params.get("to", "")),
        )

    @property
    def active(self) -> bool:
        return bool(self.reviewer or self.reference or self.since or self.until)

    def query_string(self, **changes: str) -> str:
        values = {
            "reviewer": str(self.reviewer or ""), "reference": self.reference,
            "from": self.since.isoformat() if self.since else "",
            "to": self.until.isoformat() if self.until else "", **changes,
        }
        return urlencode({k: v for k, v in values.items() if v})


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    reviewer_id: int | None
    type: str
    message: str
    reference: str

    @property
    def what(self) -> str:
        """The event in words, without its actor: the "Who" column names them."""
        return event_plain(self.type)

    @property
    def detail(self) -> str:
        text = " ".join(self.message.split())
        if not text and self.type == "document_viewed":
            # Erasure blanks the applicant's file names (workflow/retention.py).
            return "Which document: erased with the applicant's data."
        if self.type == "document_viewed":
            text = VIEWED.sub(lambda m: f"Viewed {purpose_word(m.group(1)).lower()} (", text)
        return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"

    @property
    def utc(self) -> str:
        return self.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class AuditPage:
    rows: list[AuditRow]
    reviewers: list[Reviewer]
    next_cursor: str | None
    filters: AuditFilters
    by_id: dict[int, Reviewer] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {reviewer.id: reviewer for reviewer in self.reviewers}


def _query(filters: AuditFilters) -> QuerySet[Event]:
    if filters.reviewer is not None:
        query = Event.filter(actor=f"{ACTOR_PREFIX}{filters.reviewer}")
    else:
        query = Event.filter(actor__startswith=ACTOR_PREFIX)
    if filters.reference:
        # A subquery, not a look-up first: the same statements whether or not it exists.
        # Text that cannot be a reference matches nothing (never compared: see
        # tokens.parse_reference).
        reference = parse_reference(filters.reference) or ""
        application = Application.filter(reference=reference).values("id")
        query = query.filter(application_id__in=Subquery(application))
    if filters.since:
        query = query.filter(at__gte=datetime.combine(filters.since, time.min, UTC))
    if filters.until and filters.until < date.max:  # to 9999-12-31: no end (its next day
        # is past what a date holds: an OverflowError, a 500)
        query = query.filter(at__lt=datetime.combine(filters.until + timedelta(days=1),
                                                     time.min, UTC))
    return query


def _reviewer_id(actor: str) -> int | None:
    number = actor.removeprefix(ACTOR_PREFIX)
    return int(number) if _number(number) else None


def _after(cursor: list[Any]) -> Q:
    """Older than the cursor, written as a range of ``at`` the index can seek to."""
    moment, ident = cursor[1], cursor[2]
    return Q(at__lte=moment) & (Q(at__lt=moment) | Q(id__lt=ident))


async def page(filters: AuditFilters, cursor: str | None = None,
               size: int = PAGE_SIZE) -> AuditPage:
    query = _query(filters)
    position = decode_cursor(cursor) if cursor else None
    if position is not None:
        query = query.filter(_after(position))
    ids = query.order_by("-at", "-id").limit(size + 1).values("id")
    found = await Event.filter(id__in=Subquery(ids)).order_by("-at", "-id").values(
        "id", "at", "actor", "type", "message", "application__reference",
    )
    rows = [
        AuditRow(id=int(r["id"]), at=r["at"], reviewer_id=_reviewer_id(str(r["actor"])),
                 type=str(r["type"]), message=str(r["message"] or ""),
                 reference=str(r["application__reference"]))
        for r in found
    ]
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = encode_cursor([0, rows[-1].at, rows[-1].id]) if more and rows else None
    reviewers = await Reviewer.all().order_by("name", "id")
    return AuditPage(rows=rows, reviewers=reviewers, next_cursor=next_cursor, filters=filters)


@dataclass(frozen=True)
class AccountRow:
    """One change to a reviewer account: whose (``reviewer_id``), by whom, what."""

    id: int
    at: datetime
    actor: str
    reviewer_id: int
    type: str
    message: str

    @property
    def what(self) -> str:
        return ACCOUNT_ACTIONS.get(self.type, self.type.replace("_", " ").capitalize())

    @property
    def actor_id(self) -> int | None:
        return _reviewer_id(self.actor) if self.actor.startswith(ACTOR_PREFIX) else None

    @property
    def utc(self) -> str:
        return self.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class AccountChanges:
    rows: list[AccountRow]
    next_cursor: str | None


async def account_changes(filters: AuditFilters, cursor: str | None = None,
                          size: int = PAGE_SIZE) -> AccountChanges:
    """Changes to accounts, newest first, by keyset on ``(at, id)``: those done to or by
    the chosen reviewer, within the dates. Filtered by an application, there are none
    (no statement is sent for them then)."""
    if filters.reference:
        return AccountChanges(rows=[], next_cursor=None)
    query = AccountEvent.all()
    if filters.reviewer is not None:
        query = query.filter(Q(reviewer_id=filters.reviewer)
                             | Q(actor=f"{ACTOR_PREFIX}{filters.reviewer}"))
    if filters.since:
        query = query.filter(at__gte=datetime.combine(filters.since, time.min, UTC))
    if filters.until and filters.until < date.max:
        query = query.filter(at__lt=datetime.combine(filters.until + timedelta(days=1),
                                                     time.min, UTC))
    position = decode_cursor(cursor) if cursor else None
    if position is not None:
        query = query.filter(_after(position))
    found = await query.order_by("-at", "-id").limit(size + 1).values(
        "id", "at", "actor", "reviewer_id", "type", "message")
    rows = [AccountRow(id=int(r["id"]), at=r["at"], actor=str(r["actor"]),
                       reviewer_id=int(r["reviewer_id"]), type=str(r["type"]),
                       message=str(r["message"] or "")) for r in found]
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = encode_cursor([0, rows[-1].at, rows[-1].id]) if more and rows else None
    return AccountChanges(rows=rows, next_cursor=next_cursor)
