"""What reviewers do: claim, release, reassign, decide, ask for information, note.

Claiming is a compare-and-set ``UPDATE ... WHERE status = 'queued'``: of two reviewers
racing for one application exactly one update matches a row, on either database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from support.accounts.roles import REVIEWER
from support.accounts.scope import claimable_by, held_for_another, in_scope, works_queue_of
from support.data.models import Application, Event, Reviewer, Status
from support.notify.outbox import notify_applicant
from support.platform import metrics
from support.rules.kinds import INFO_ITEMS, KINDS, REJECTION_REASONS
from support.workflow import permissions, responses
from support.workflow.machine import (
    TRANSITIONS,
    Actor,
    DomainError,
    allowed,
    check,
    locked,
    move,
)

log = logging.getLogger("support.workflow")


def _now() -> datetime:
    return datetime.now(UTC)


async def barred_from(application: Application, reviewer: Reviewer) -> bool:
    """The reviewer who refused an application may not judge its appeal."""
    if application.appeal_of_id is None:  # type: ignore[attr-defined]
        return False
    return await Application.filter(
        id=application.appeal_of_id, decided_by_id=reviewer.id  # type: ignore[attr-defined]
    ).exists()


async def available(application: Application, reviewer: Reviewer) -> dict[str, bool]:
    """What this reviewer may do to this application now, for the buttons they are shown:
    the state machine's answer, less claiming and deciding an appeal they are barred from,
    and less claiming one held for another reviewer (the claim would be refused)."""
    actor = Actor(REVIEWER, reviewer)
    can = {action: allowed(application, action, actor) for action in TRANSITIONS}
    if held_for_another(application, reviewer, _now()):
        can["claim"] = False
    if await barred_from(application, reviewer):
        for action in ("claim", "approve", "reject", "request_info"):
            can[action] = False
    return can


async def claim(application: Application, actor: Actor) -> Application:
    reviewer = actor.reviewer
    assert reviewer is not None
    check(application, "claim", actor)
    if await barred_from(application, reviewer):
        raise DomainError("You refused the original application, so another reviewer must "
                          "decide this appeal.")
    if not await Application.filter(Q(id=application.id) & in_scope(reviewer)).exists():
        raise DomainError("This application is not in your queues.")
    now = _now()
    claimed = await _compare_and_set(application.id, reviewer, now)
    if claimed is None:
        if await Application.filter(id=application.id, status=Status.QUEUED).exists():
            raise DomainError("This application is held for the reviewer who asked the "
                              "applicant for more information, until its hold ends.")
        raise DomainError("Someone else has just taken this application.")
    return claimed


async def _compare_and_set(
    application_id: int, reviewer: Reviewer, now: datetime
) -> Application | None:
    async with in_transaction():
        updated = await Application.filter(
            Q(id=application_id, status=Status.QUEUED) & claimable_by(reviewer, now)
        ).update(
            status=Status.IN_REVIEW, assignee_id=reviewer.id, claimed_at=now,
            last_activity_at=now, held_for_id=None, held_until=None,
        )
        if updated != 1:
            return None
        application = await Application.get(id=application_id)
        await Event.create(application=application, actor=f"reviewer:{reviewer.id}",
                           type="claim", from_status=Status.QUEUED.value,
                           to_status=Status.IN_REVIEW.value, internal=True,
                           message=f"Taken by {reviewer.name}.")
    return application


def not_barred(reviewer: Reviewer) -> Q:
    """Not an appeal against a refusal this reviewer made. Read through a join on the
    original's primary key, row by row in queue order, so the cost is the few rows ahead of
    the first claimable one, not every queued appeal."""
    return (
        Q(appeal_of_id=None)
        | Q(appeal_of__decided_by_id=None)
        | ~Q(appeal_of__decided_by_id=reviewer.id)
    )


async def claim_next(reviewer: Reviewer) -> Application | None:
    """The most urgent application in the reviewer's queues, or None when they are empty.

    The candidate is read in queue order (``application_queue_idx``) with ``FOR UPDATE
    SKIP LOCKED`` (PostgreSQL; SQLite ignores it and runs one writer at a time), so
    concurrent claimers take different rows instead of queueing behind one; the
    compare-and-set keeps the claim correct either way.
    """
    now = _now()
    query = Application.filter(
        Q(status=Status.QUEUED) & in_scope(reviewer) & claimable_by(reviewer, now)
        & not_barred(reviewer)
    )
    for _ in range(10):
        async with in_transaction():
            # Only the application row is locked: the original of an appeal is on the
            # nullable side of the join, which PostgreSQL refuses to lock.
            candidate = await query.order_by("-priority", "due_at", "id").select_for_update(
                skip_locked=True, of=("application",)
            ).first()
            if candidate is None:
                return None
            claimed = await _compare_and_set(candidate.id, reviewer, now)
        if claimed is not None:
            return claimed
    return None


async def touch(application: Application, reviewer: Reviewer) -> None:
    """Activity by the holder renews the lease."""
    if application.assignee_id == reviewer.id:  # type: ignore[attr-defined]
        await Application.filter(id=application.id).update(last_activity_at=_now())


async def release(application: Application, actor: Actor,
                  message: str = "Returned to the queue.") -> None:
    async with in_transaction():
        fresh = await locked(application.reference)
        await move(fresh, "release", actor, message, internal=True)
        fresh.assignee_id = None
        fresh.claimed_at = None
        await fresh.save(update_fields=["assignee_id", "claimed_at"])


async def reassign(application: Application, actor: Actor, to: Reviewer) -> None:
    async with in_transaction():
        fresh = await locked(application.reference)
        if not to.active or not works_queue_of(to, fresh):
            # They could not open it: it would sit unseen until the claim's lease ran out.
            raise DomainError("That reviewer does not work this application's queue.")
        if await barred_from(fresh, to):
            raise DomainError("That reviewer refused the original application and cannot "
                              "decide its appeal.")
        await move(fresh, "reassign", actor, f"Reassigned to {to.name}.", internal=True)
        fresh.assignee_id = to.id
        fresh.claimed_at = _now()
        await fresh.save(update_fields=["assignee_id", "claimed_at"])


async def add_note(application: Application, reviewer: Reviewer, text: str) -> Event:
    text = text.strip()
    if not text:
        raise DomainError("Write the note before saving it.")
    await touch(application, reviewer)
    return await Event.create(application=application, actor=f"reviewer:{reviewer.id}",
                              type="note", message=text[:5000], internal=True)


# What a reviewer decides, in the order the desk offers them.
DECISIONS = ("approve", "reject", "request_info")


@dataclass(frozen=True)
class Decision:
    action: str  # approve | reject | request_info
    text: str
    reason_code: str | None = None
    items: tuple[str, ...] = ()
    # The last event the reviewer's page showed: a decision on an application that changed
    # since is refused with what changed (None: no check, for callers without a page).
    seen: int | None = None


class Changed(DomainError):
    """The application changed after the reviewer's page was drawn; ``events`` say how."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__("This application changed after you opened it, so your decision "
                         "was not sent. Check what changed, then send it again.")
        self.events = events


class WrongText(DomainError):
    """The message is, untouched, the canned refusal of another reason than the one chosen."""

    status_code = 422

    def __init__(self, written_for: str) -> None:
        super().__init__("The message is the canned text written for another reason. The "
                         "text for the reason you chose is below: check it and send again.")
        self.written_for = written_for


async def changes_since(application: Application, seen: int, reviewer: Reviewer) -> list[Event]:
    """What happened to the application after event ``seen``, as its history shows it: views
    are not changes, and nor are the reviewer's own notes (their other tab)."""
    return [event for event in await Event.filter(application_id=application.id, id__gt=seen)
            .exclude(type="document_viewed").order_by("id")
            if not (event.type == "note" and event.actor == f"reviewer:{reviewer.id}")]


def _validate(decision: Decision) -> None:
    if not decision.text.strip():
        raise DomainError("Write the message the applicant will read.")
    if decision.action == "reject" and decision.reason_code not in REJECTION_REASONS:
        raise DomainError("Choose the reason for the refusal.")
    wanted = set(decision.items)
    if decision.action == "request_info" and (not wanted or not wanted <= set(INFO_ITEMS)):
        raise DomainError("Tick what the applicant must send.")


async def decide(application: Application, actor: Actor, decision: Decision) -> Application:
    """Approve, reject or ask for information: one transaction, one event, one message
    on each channel the applicant gave."""
    if decision.action not in DECISIONS:
        raise DomainError("Unknown decision.")
    _validate(decision)
    assert actor.reviewer is not None
    async with in_transaction():
        fresh = await locked(application.reference)
        if decision.seen is not None:
            changed = await changes_since(fresh, decision.seen, actor.reviewer)
            if changed:
                raise Changed(changed)
        if decision.action == "reject":  # in the language the applicant has now
            choices = await responses.options(fresh.kind, fresh.locale)
            wrong = responses.misfit(choices, decision.reason_code, decision.text)
            if wrong is not None:
                raise WrongText(wrong.title)
        if await barred_from(fresh, actor.reviewer):
            raise DomainError("You refused the original application, so another reviewer "
                              "must decide this appeal.")
        text = decision.text.strip()
        await move(fresh, decision.action, actor, text)
        kind = KINDS[fresh.kind]
        now = _now()
        context: dict[str, object] = {"message": text}
        if decision.action == "request_info":
            fresh.info_request = {"items": list(decision.items), "message": text,
                                  "reviewer_id": actor.reviewer.id}
            fresh.info_requested_at = now
            fresh.asked_by_id = actor.reviewer.id
            fresh.assignee_id = None
            context["items"] = [INFO_ITEMS[item] for item in decision.items]
            context["reply_days"] = kind.info_reply_days
            context["answer_by"] = kind.answer_due(now).isoformat()
            template = "info_requested"
        else:
            fresh.decided_at = now
            fresh.decided_by_id = actor.reviewer.id
            fresh.decision_text = text
            fresh.decision_code = decision.reason_code if decision.action == "reject" else None
            if decision.action == "approve" and kind.permission is not None:
                fresh.permission_expires_at = now + timedelta(days=kind.permission.days)
                context["expires_at"] = fresh.permission_expires_at.isoformat()
            template = "approved" if decision.action == "approve" else "rejected"
        await fresh.save()
        await notify_applicant(fresh, template, context)
        if decision.action != "request_info":  # its permission, and the maker's events
            await permissions.on_decided(fresh, kind, decision.action, now)
    log.info("application %s: %s", fresh.reference, decision.action)
    metrics.decided(fresh.kind, decision.action)
    return fresh
