"""Reading the audit trail: what reviewers did (claims, releases, reassignments, notes,
decisions, document views), newest first, by reviewer, application and dates.

Nothing is written here. Reviewer actions are already ``Event`` rows with the actor
``reviewer:{id}`` (``workflow/review.py``, ``workflow/machine.move``, the document route),
so the trail cannot disagree with the timelines it is read from. Admin actions on accounts
and canned responses are not events (an event belongs to an application) and do not
appear.

Pages are read by keyset on ``(at, id)``, never by OFFSET, from ``event_at_idx`` (at, id,
actor) or, for one reviewer, ``event_actor_at_idx`` (actor, at, id): a page's ids come from
the index alone and only its rows from the table, so the hundredth page of a million events
costs what the first does. A page is a fixed number of statements whatever its length:
the reviewers (for the filter and the names), the page's ids and rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from support.data.models import Application, Event, Reviewer
from support.platform.tokens import parse_reference
from support.reads.queue import decode_cursor, encode_cursor

PAGE_SIZE = 50
ACTOR_PREFIX = "reviewer:"
DETAIL_CHARS = 300

# What each event type a reviewer can cause means, for the "what" column.
ACTIONS: dict[str, str] = {
    "claim": "Claimed",
    "release": "Released to the queue",
    "reassign": "Reassigned",
    "note": "Wrote a note",
    "approve": "Approved",
    "reject": "Refused",
    "request_info": "Asked for information",
    "document_viewed": "Viewed a document",
}


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
            reviewer=int(reviewer) if _number(reviewer) and len(reviewer) < 10 else None,
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
        return ACTIONS.get(self.type, self.type.replace("_", " ").capitalize())

    @property
    def detail(self) -> str:
        text = " ".join(self.message.split())
        if not text and self.type == "document_viewed":
            # Erasure blanks the applicant's file names (workflow/retention.py).
            return "Which document: erased with the applicant's data."
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
    if filters.until:
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
