"""Mail that came in, for the reviewers' "Mail" page: by default what reached no
application (a person who wrote to the wrong place, mail too large or unreadable), newest
first, a page at a time by id."""

from __future__ import annotations

from dataclasses import dataclass

from support.data.models import InboundMail

PAGE = 50

# The page's tabs: what each shows (``InboundMail.outcome`` values).
VIEWS: dict[str, tuple[str, ...]] = {
    "unplaced": ("unmatched", "unreadable", "oversize"),
    "taken": ("reply", "message"),
    "reports": ("report",),
    "automatic": ("automatic",),
}


@dataclass(frozen=True)
class MailPage:
    rows: list[InboundMail]
    older: int | None  # the id to continue from, if there is more


async def listed(view: str, before: int | None = None) -> MailPage:
    query = InboundMail.filter(outcome__in=list(VIEWS.get(view, VIEWS["unplaced"])))
    if before is not None:
        query = query.filter(id__lt=before)
    rows = await query.order_by("-id").limit(PAGE + 1).prefetch_related("application")
    return MailPage(rows[:PAGE], rows[PAGE - 1].id if len(rows) > PAGE else None)
