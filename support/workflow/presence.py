"""Who has an application open: each page and its refreshes say "still here", and the page
names the other reviewers seen in the last seconds, so two reviewers do not work one
application unknowingly.

One ``ApplicationViewer`` row per application and reviewer, its ``seen_at`` moved forward by
the page's render and by its poll (``static/review/presence.js``, every few seconds while
the tab is visible). Someone is "there" while their row is younger than ``WINDOW``: a
closed tab tells the server (``leave``), a crashed one simply lapses. Nothing here changes
an application; the rows are a hint on the page, never a lock.

A poll writes the row only when it is older than ``REFRESH`` (the poll's read already has
it), so fifty open tabs cost a handful of one-row writes a second, and the table is pruned of rows
older than ``KEEP`` by the clock (``prune``) so it stays the size of a day's work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError

from support.data.models import Application, ApplicationViewer, Reviewer

WINDOW = timedelta(seconds=20)  # seen within it: still there (the page polls every 5 s)
REFRESH = timedelta(seconds=8)  # a row younger than this is not written again: every other poll
KEEP = timedelta(days=1)  # older rows go at the clock's next run

# One statement for "insert, or move seen_at forward", safe when two requests of one
# reviewer race (the unique (application, reviewer) index decides, nobody fails, and a
# late request never moves the time back).
# SQLite (3.24+) and PostgreSQL share the syntax; only the placeholders differ.
_UPSERT = (
    "INSERT INTO application_viewer (application_id, reviewer_id, seen_at) VALUES ({0}, {1}, {2}) "
    "ON CONFLICT (application_id, reviewer_id) DO UPDATE SET seen_at = excluded.seen_at "
    "WHERE application_viewer.seen_at < excluded.seen_at"
)
_UPSERT_TEXTS = {
    "postgres": _UPSERT.format("$1", "$2", "$3"),
    "sqlite": _UPSERT.format("?", "?", "?"),
}


@dataclass(frozen=True)
class Viewer:
    """Another reviewer with the application open; ``holds``: they have it claimed."""

    name: str
    holds: bool


@dataclass(frozen=True)
class Presence:
    """What the page's poll learns: the others, and ``mark``, the reviewer's row as it now
    stands, which the page hands back when it goes away (``leave``)."""

    others: list[Viewer]
    mark: datetime


def _now() -> datetime:
    return datetime.now(UTC)


async def seen(application: Application, reviewer: Reviewer, now: datetime | None = None) -> None:
    """Mark ``reviewer`` as having ``application`` open now: one statement, whatever the
    row's state. A page's render always writes (its reviewer may be arriving from another
    page of the same application, whose ``leave`` must not remove them); the poll writes
    only when the row is stale (``still_here``)."""
    moment = now or _now()
    client = ApplicationViewer._meta.db
    text = _UPSERT_TEXTS.get(client.capabilities.dialect, _UPSERT_TEXTS["sqlite"])
    try:
        await client.execute_query(text, [application.id, reviewer.id, moment])
    except IntegrityError:
        # The application was deleted (purged) between its page's read and here: there is
        # nothing left to be looking at, and the page's next request answers 404.
        return


async def others(application: Application, reviewer: Reviewer,
                 now: datetime | None = None) -> list[Viewer]:
    """The other active reviewers with this application open, by name, and which of them
    holds it (by id, as the poll says it: two reviewers may share a name)."""
    since = (now or _now()) - WINDOW
    rows = await (
        ApplicationViewer.filter(application_id=application.id, seen_at__gte=since,
                                 reviewer__active=True)
        .exclude(reviewer_id=reviewer.id)
        .order_by("reviewer__name")
        .values_list("reviewer_id", "reviewer__name")
    )
    holder = application.assignee_id  # type: ignore[attr-defined]
    return [Viewer(name=str(name), holds=who == holder) for who, name in rows]


async def still_here(application: Application, reviewer: Reviewer,
                     now: datetime | None = None) -> Presence:
    """The page's poll: mark ``reviewer`` as still there and name the others, saying which
    of them holds the claim. One read of the application's rows (a handful: who opened it
    today); a write only when the reviewer's own row is missing or older than ``REFRESH``."""
    moment = now or _now()
    rows = await ApplicationViewer.filter(application_id=application.id).values_list(
        "reviewer_id", "seen_at", "reviewer__name", "reviewer__active")
    mine = [seen_at for who, seen_at, _, _ in rows if who == reviewer.id]
    mark = mine[0] if mine else moment
    if not mine or mark < moment - REFRESH:
        await seen(application, reviewer, moment)
        mark = moment
    holder = application.assignee_id  # type: ignore[attr-defined]
    there = [
        Viewer(name=str(name), holds=who == holder)
        for who, seen_at, name, active in rows
        if who != reviewer.id and active and seen_at >= moment - WINDOW
    ]
    return Presence(others=sorted(there, key=lambda viewer: viewer.name), mark=mark)


async def leave(application: Application, reviewer: Reviewer, mark: datetime) -> bool:
    """The reviewer's page went away (hidden or closed): the others stop seeing them at
    their next poll instead of after ``WINDOW``. Only if the row is still as that page
    last saw it (``mark``): a page that replaced it (a form sent, a reload) has written a
    later time, and its reviewer is still there."""
    deleted = await ApplicationViewer.filter(application_id=application.id,
                                             reviewer_id=reviewer.id,
                                             seen_at__lte=mark).delete()
    return bool(deleted)


async def prune(now: datetime | None = None) -> int:
    """Forget rows older than ``KEEP`` (the clock, every minute): nobody has had those
    pages open for a day."""
    cutoff = (now or _now()) - KEEP
    deleted: int = await ApplicationViewer.filter(seen_at__lt=cutoff).delete()
    return deleted
