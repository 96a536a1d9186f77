"""Other applications of the same account, phone, IMEI or receipt file, for the panel beside
an application's facts: what a reviewer would otherwise search for by hand, four times.

Bounded and indexed, so the page stays within its budget at a million applications: the
receipts' twins are one statement (``data/sharing.py``: two index look-ups, at most
``limit`` ids), and the applications one more, ``account_id = ? OR phone = ? OR imei = ?
OR id IN (…)``, each term an index of its own (a bitmap OR on PostgreSQL, a multi-index
OR on SQLite), the newest ``limit`` of them. Which value each row shares is worked out from
the rows themselves. A blank or redacted value relates nothing (``sharing.shareable``).

Scope: the panel lists related applications outside the reviewer's queues too, with their
reference, kind, state and outcome, but links only those the reviewer may open (the others
answer 404 to them). Hiding them would hide what the panel is for (the same phone refused
for fraud in the recovery queue matters to the unlock reviewer), the risk signals already
name such references, and a row says nothing personal: the value it shares is the one on
the reviewer's own screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_

from tortoise.expressions import Q

from support.accounts.scope import works_queue_of
from support.data import sharing
from support.data.models import Application, Reviewer, Status
from support.reads.wording import kind_word, reason_word, state_word

LIMIT = 20

# What a row has in common with the application on screen, in the order they are said.
SHARE_WORDS: dict[str, str] = {
    sharing.ACCOUNT: "same account",
    sharing.PHONE: "same phone",
    sharing.IMEI: "same IMEI",
    sharing.RECEIPT: "same receipt file",
}
APPEALED = "the refusal this appeals"
APPEAL = "an appeal of this one"


@dataclass(frozen=True)
class Related:
    application: Application
    shares: tuple[str, ...]  # words: "same phone", "same IMEI", …

    @property
    def reference(self) -> str:
        return str(self.application.reference)

    @property
    def kind(self) -> str:
        return kind_word(self.application.kind)

    @property
    def state(self) -> str:
        return state_word(self.application.status)

    @property
    def outcome(self) -> str:
        """"Approved", "Refused: <the reason in words>", or where it stands if undecided."""
        status = self.application.status
        if status is Status.REJECTED and self.application.decision_code:
            return f"Refused: {reason_word(self.application.decision_code)}"
        return state_word(status)

    @property
    def when(self) -> datetime:
        """Its decision if it has one, else when it was made."""
        return self.application.decided_at or self.application.created_at

    @property
    def decided(self) -> bool:
        return self.application.decided_at is not None

    @property
    def shares_said(self) -> str:
        """"Same account, same phone": the words joined, the first capitalised (Jinja's
        ``capitalize`` would lower "IMEI")."""
        said = ", ".join(self.shares)
        return said[:1].upper() + said[1:]

    def visible_to(self, reviewer: Reviewer | None) -> bool:
        """In the reviewer's queues: the reference is a link (see the module's docstring)."""
        return reviewer is not None and works_queue_of(reviewer, self.application)


@dataclass(frozen=True)
class RelatedApplications:
    rows: list[Related]
    more: bool  # more than ``limit`` related: the rows are the newest

    def __iter__(self) -> Iterator[Related]:  # a template loops over the panel
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __bool__(self) -> bool:
        return bool(self.rows)

    def hidden_from(self, reviewer: Reviewer | None) -> int:
        """How many rows this reviewer sees without a link (outside their queues)."""
        return sum(1 for row in self.rows if not row.visible_to(reviewer))


def _shares(application: Application, other: Application, receipts: set[int]) -> tuple[str, ...]:
    said = [
        SHARE_WORDS[what] for what, column in sharing.FIELDS.items()
        if sharing.same(application, what) is not None
        and getattr(other, column) == getattr(application, column)
    ]
    if other.pk in receipts:
        said.append(SHARE_WORDS[sharing.RECEIPT])
    if application.appeal_of_id == other.pk:  # type: ignore[attr-defined]
        said.append(APPEALED)
    if other.appeal_of_id == application.pk:  # type: ignore[attr-defined]
        said.append(APPEAL)
    return tuple(said)


async def related_to(application: Application, limit: int = LIMIT) -> RelatedApplications:
    """The newest ``limit`` other applications sharing the account, phone, IMEI or a
    receipt file with this one (two statements at most; none when nothing is shareable)."""
    terms = [term for what in sharing.FIELDS if (term := sharing.same(application, what))]
    receipts: set[int] = set()
    twins = sharing.receipt_twins(application)
    if twins is not None:
        found = await twins.order_by("-application_id").limit(limit).values("application_id")
        receipts = {int(row["application_id"]) for row in found}
    if receipts:
        terms.append(Q(id__in=sorted(receipts)))
    appeal_of = application.appeal_of_id  # type: ignore[attr-defined]
    if appeal_of:
        terms.append(Q(id=appeal_of))
    if not terms:
        return RelatedApplications(rows=[], more=False)
    rows = await (
        Application.filter(reduce(or_, terms))
        .exclude(id=application.pk)
        .order_by("-created_at", "-id")
        .limit(limit + 1)
    )
    related = [Related(row, _shares(application, row, receipts)) for row in rows[:limit]]
    return RelatedApplications(rows=related, more=len(rows) > limit)
