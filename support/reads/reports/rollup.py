"""Daily rollups for the reports page, kept up to date by the worker every minute.

Why rollups and not live aggregates: the page's figures cover thirty days of a desk that
may hold a million applications. Live, the backlog at the end of each past day needs every
application open at any time in the month, and the time to decision needs a sort of every
decision in it (plus ``percentile_cont``, which SQLite lacks). Kept per day, the page reads
a few hundred small rows (``ReportDay``, ``ReportDuration``) whatever the volume, and the
worker pays, once a minute, for one day: today's decisions (an index range of
``application_decided_idx``) and today's open count (index-only, ``application_scope_idx``).

- **Today** is rewritten on every run: its decisions so far, and as its backlog the
  applications open right now (and how many of them are overdue). The last run before
  midnight leaves the day's end.
- **Yesterday** is rewritten until ``SETTLE`` after midnight (a decision committed at
  23:59:59 may land a moment late), keeping the backlog taken before midnight; after that
  the day is final and never read again.
- **Missing days** (a new installation, a worker that was stopped over midnight) are
  rebuilt from the applications in one pass over those open or closed in that span:
  open at the end of a day means confirmed (``verified_at``) before it and not yet
  decided (``decided_at``), withdrawn or expired (the time of that move, which
  ``last_activity_at`` keeps on a closed application).

Several workers may run this at once (PostgreSQL): a day is replaced in one transaction
(delete, insert), a twin run loses on the unique key and leaves the winner's rows, and a
run within ``MIN_INTERVAL`` of the last one does nothing.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from support.data.models import Application, ReportDay, ReportDuration, Status
from support.data.sqlite_client import long_statements
from support.reads.reports.histogram import Bucket, bucket_of
from support.rules.kinds import KINDS

log = logging.getLogger("support.reports")

WINDOW_DAYS = 30
SETTLE = timedelta(minutes=10)
SNAPSHOT_GRACE = timedelta(minutes=5)  # a backlog taken this close to midnight is the day's end
MIN_INTERVAL = timedelta(seconds=50)
BATCH = 5000
OPEN = (Status.QUEUED, Status.IN_REVIEW, Status.NEEDS_INFO)
DECIDED = (Status.APPROVED, Status.REJECTED)
CLOSED_WITHOUT_DECISION = (Status.WITHDRAWN, Status.EXPIRED)
DIMENSIONS = ("kind", "country", "model")


def start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def end_of(day: date) -> datetime:
    return start_of(day) + timedelta(days=1)


def window(today: date, days: int = WINDOW_DAYS) -> list[date]:
    """The days the page shows, oldest first, today last (so far)."""
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


@dataclass
class DayFigures:
    """One day's decisions, counted as they stream past."""

    counts: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    durations: dict[tuple[str, int], Bucket] = field(default_factory=dict)

    def add(self, status: str, kind: str, country: str, model: str,
            verified_at: datetime | None, decided_at: datetime) -> None:
        column = 0 if status == Status.APPROVED else 1
        for dimension, key in zip(DIMENSIONS, (kind, country, model), strict=True):
            self.counts.setdefault((dimension, key), [0, 0])[column] += 1
        if verified_at is not None:
            seconds = max(0, round((decided_at - verified_at).total_seconds()))
            index = bucket_of(seconds)
            bucket = self.durations.get((kind, index))
            if bucket is None:
                self.durations[(kind, index)] = Bucket(index, 1, seconds, seconds)
            else:
                bucket.add(seconds)


async def _decisions(day: date) -> AsyncIterator[tuple[Any, ...]]:
    """The day's decisions in keyset batches along ``application_decided_idx``: memory
    holds one batch, however busy the day."""
    query = Application.filter(decided_at__gte=start_of(day), decided_at__lt=end_of(day),
                               status__in=DECIDED)
    after: tuple[datetime, int] | None = None
    while True:
        batch = query
        if after is not None:
            moment, ident = after
            batch = batch.filter(Q(decided_at__gt=moment) | Q(decided_at=moment, id__gt=ident))
        rows = await batch.order_by("decided_at", "id").limit(BATCH).values_list(
            "decided_at", "id", "status", "kind", "country", "model", "verified_at")
        for row in rows:
            yield row
        if len(rows) < BATCH:
            return
        after = (rows[-1][0], rows[-1][1])


async def count_day(day: date) -> DayFigures:
    figures = DayFigures()
    async for decided_at, _, status, kind, country, model, verified_at in _decisions(day):
        figures.add(str(status), kind, country, model, verified_at, decided_at)
    return figures


Backlog = dict[str, tuple[int, int]]  # kind: (open, of which past their due date)


async def open_now(now: datetime) -> Backlog:
    """Applications open right now and how many are overdue, by kind: one index-only read
    of ``application_scope_idx`` (status, kind, …, due_at, id)."""
    rows = await Application.filter(status__in=OPEN).annotate(
        n=Count("id"), late=Count("id", _filter=Q(due_at__lt=now))
    ).group_by("kind").values_list("kind", "n", "late")
    return {str(kind): (int(n), int(late)) for kind, n, late in rows}


async def rebuild_backlog(days: Iterable[date]) -> dict[date, Backlog]:
    """The backlog at the end of each of ``days``, from the applications themselves.

    One pass, in id order and batches, over the applications that were open at some point
    of the span: still open, or closed after it began. Each adds one to every day whose
    end falls between its confirmation and its closing (and to that day's overdue count
    if its due date had passed by then)."""
    wanted = sorted(set(days))
    counts: dict[date, dict[str, list[int]]] = {day: {} for day in wanted}
    if not wanted:
        return {}
    ends = [end_of(day) for day in wanted]
    first, last = start_of(wanted[0]), ends[-1]
    candidates = Application.filter(
        Q(verified_at__lt=last)
        & (Q(status__in=OPEN)
           | Q(status__in=DECIDED, decided_at__gte=first)
           | Q(status__in=CLOSED_WITHOUT_DECISION, last_activity_at__gte=first))
    )
    after = 0
    while True:
        rows = await candidates.filter(id__gt=after).order_by("id").limit(BATCH).values_list(
            "id", "kind", "status", "verified_at", "decided_at", "last_activity_at", "due_at")
        for _, kind, status, verified_at, decided_at, last_activity_at, due_at in rows:
            closed = (None if status in OPEN else
                      decided_at if status in DECIDED else last_activity_at)
            start = bisect.bisect_right(ends, verified_at)  # first day ending after it
            stop = len(ends) if closed is None else bisect.bisect_right(ends, closed)
            for index in range(start, stop):
                tally = counts[wanted[index]].setdefault(kind, [0, 0])
                tally[0] += 1
                if due_at is not None and due_at < ends[index]:
                    tally[1] += 1
        if len(rows) < BATCH:
            return {day: {kind: (t[0], t[1]) for kind, t in by_kind.items()}
                    for day, by_kind in counts.items()}
        after = rows[-1][0]


async def _write(day: date, figures: DayFigures, backlog: Backlog, now: datetime) -> bool:
    """Replace the day's rows in one transaction; False if a twin run got there first."""
    rows = [
        ReportDay(day=day, dimension=dimension, key=key[:64], approved=counts[0],
                  rejected=counts[1], computed_at=now)
        for (dimension, key), counts in sorted(figures.counts.items()) if dimension != "kind"
    ]
    # Every kind has its row each day, decisions or not: it carries the backlog and says
    # the day was counted.
    for kind in sorted(set(KINDS) | set(backlog) | {k for d, k in figures.counts if d == "kind"}):
        approved, rejected = figures.counts.get(("kind", kind), [0, 0])
        open_count, overdue = backlog.get(kind, (0, 0))
        rows.append(ReportDay(day=day, dimension="kind", key=kind, approved=approved,
                              rejected=rejected, backlog=open_count, overdue=overdue,
                              computed_at=now))
    durations = [
        ReportDuration(day=day, kind=kind, bucket=bucket.index, count=bucket.count,
                       min_seconds=bucket.low, max_seconds=bucket.high)
        for (kind, _), bucket in sorted(figures.durations.items())
    ]
    try:
        async with in_transaction():
            await ReportDay.filter(day=day).delete()
            await ReportDuration.filter(day=day).delete()
            await ReportDay.bulk_create(rows)
            if durations:
                await ReportDuration.bulk_create(durations)
    except IntegrityError:
        log.info("report day %s was written by another worker", day)
        return False
    return True


async def refresh(now: datetime | None = None, *, force: bool = False) -> list[date]:
    """Bring the window's rollups up to date; returns the days written.

    On SQLite its statements run in a thread (``long_statements``): the worker runs this
    every minute, in the web process by default, and today's open count alone reads every
    open application's index entry (B6: 100 ms at 200,000, which every request waited for
    when it ran on the event loop)."""
    with long_statements():
        return await _refresh(now, force)


async def _refresh(now: datetime | None, force: bool) -> list[date]:
    now = now or datetime.now(UTC)
    today = now.astimezone(UTC).date()
    days = window(today)
    written: dict[date, datetime] = {}
    kept: dict[date, Backlog] = {}
    for day, key, backlog, overdue, computed_at in await ReportDay.filter(
        day__gte=days[0], dimension="kind"
    ).values_list("day", "key", "backlog", "overdue", "computed_at"):
        written[day] = max(computed_at, written.get(day, computed_at))
        kept.setdefault(day, {})[str(key)] = (int(backlog or 0), int(overdue or 0))
    if not force and today in written and now - written[today] < MIN_INTERVAL:
        return []
    todo = [day for day in days
            if day == today or day not in written or written[day] < end_of(day) + SETTLE]
    snapshots = {day for day in todo if day != today and day in written
                 and written[day] >= end_of(day) - SNAPSHOT_GRACE}
    backlogs = await rebuild_backlog(day for day in todo if day != today and day not in snapshots)
    backlogs.update({day: kept[day] for day in snapshots})
    done = []
    for day in todo:
        # Today's open count is read just before its decisions, so both describe one moment.
        backlog = await open_now(now) if day == today else backlogs.get(day, {})
        if await _write(day, await count_day(day), backlog, now):
            done.append(day)
    return done
