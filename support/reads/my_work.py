"""A reviewer's own work: what they hold, what waits on applicants they asked, and what
came back to them (the applicant answered; the application is held for them).

Each list is one range of its own index: ``application_assignee_idx`` (assignee_id,
status), ``application_asked_by_idx`` (asked_by_id, status) and
``application_held_for_idx`` (held_for_id, status), so the page costs the reviewer's own
rows, never the queue's million.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.functions import Max

from support.accounts.scope import in_scope
from support.data.models import Application, Event, Reviewer
from support.reads.queue import capped_count, my_work_conditions
from support.rules.kinds import KINDS

# Each list shows this many; its count says how many there are (up to the cap).
LIST_SIZE = 100
SECTIONS: dict[str, str] = {
    "held": "In review with you",
    "answered": "Answered: back with you",
    "waiting": "Waiting on the applicant",
}


# Oldest first in each: what has waited longest comes first.
ORDERING: dict[str, tuple[str, ...]] = {
    "held": ("claimed_at", "id"),
    "answered": ("held_until", "id"),
    "waiting": ("info_requested_at", "id"),
}


@dataclass
class MyWork:
    rows: dict[str, list[Application]]
    counts: dict[str, int]
    # When the applicant's reply came, for each answered application.
    replied_at: dict[int, datetime]
    # The day an applicant's answer is due by, for each waiting application.
    answer_by: dict[int, datetime]
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


async def my_work(reviewer: Reviewer, size: int = LIST_SIZE) -> MyWork:
    """The three lists, their counts (counted past a full list only), and when each
    answer came: four statements for a reviewer with less than a full list of each."""
    scope = in_scope(reviewer)
    rows: dict[str, list[Application]] = {}
    counts: dict[str, int] = {}
    for name, condition in my_work_conditions(reviewer).items():
        query = Application.filter(condition & scope)
        rows[name] = await query.order_by(*ORDERING[name]).limit(size)
        counts[name] = (len(rows[name]) if len(rows[name]) < size
                        else await capped_count(query))
    replied_at: dict[int, datetime] = {}
    answered = [row.id for row in rows["answered"]]
    if answered:
        for found in await Event.filter(
            application_id__in=answered, type="reply", actor="applicant"
        ).group_by("application_id").annotate(last=Max("at")).values("application_id", "last"):
            replied_at[int(found["application_id"])] = found["last"]
    answer_by = {row.id: KINDS[row.kind].answer_due(row.info_requested_at)
                 for row in rows["waiting"]
                 if row.info_requested_at is not None and row.kind in KINDS}
    return MyWork(rows=rows, counts=counts, replied_at=replied_at, answer_by=answer_by)
