"""The state machine as data, and the one function that moves an application along it.

``TRANSITIONS`` says, for each action, from which states it may start, where it leads,
who may take it, and whether a reviewer must hold the claim to take it. Every workflow
action goes through ``move``, which checks the rule, changes the status and appends the
event, inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from support.accounts.roles import LEAD, REVIEWER, has_role
from support.data.models import Application, Event, Reviewer, Status
from support.platform.i18n import N_

APPLICANT = "applicant"
SYSTEM = "system"

OPEN = frozenset({Status.SUBMITTED, Status.QUEUED, Status.IN_REVIEW, Status.NEEDS_INFO})
# Open once the applicant has proved the contact: what counts against "one at a time".
ACTIVE = frozenset({Status.QUEUED, Status.IN_REVIEW, Status.NEEDS_INFO})


@dataclass(frozen=True)
class Transition:
    source: frozenset[Status]
    target: Status
    actors: frozenset[str]
    holder_only: bool = False  # a plain reviewer must hold the claim; leads need not


def _rule(source: set[Status], target: Status, *actors: str, holder: bool = False) -> Transition:
    return Transition(frozenset(source), target, frozenset(actors), holder)


TRANSITIONS: dict[str, Transition] = {
    "verify": _rule({Status.SUBMITTED}, Status.QUEUED, APPLICANT),
    "expire": _rule({Status.SUBMITTED, Status.NEEDS_INFO}, Status.EXPIRED, SYSTEM),
    "withdraw": _rule(set(OPEN), Status.WITHDRAWN, APPLICANT),
    "claim": _rule({Status.QUEUED}, Status.IN_REVIEW, REVIEWER, LEAD),
    "release": _rule({Status.IN_REVIEW}, Status.QUEUED, REVIEWER, LEAD, SYSTEM, holder=True),
    "reassign": _rule({Status.IN_REVIEW}, Status.IN_REVIEW, LEAD),
    "approve": _rule({Status.IN_REVIEW}, Status.APPROVED, REVIEWER, LEAD, holder=True),
    "reject": _rule({Status.IN_REVIEW}, Status.REJECTED, REVIEWER, LEAD, holder=True),
    "request_info": _rule({Status.IN_REVIEW}, Status.NEEDS_INFO, REVIEWER, LEAD, holder=True),
    "reply": _rule({Status.NEEDS_INFO}, Status.QUEUED, APPLICANT),
}

ACTIONS = tuple(TRANSITIONS)


@dataclass(frozen=True)
class Actor:
    """Who is acting: the applicant (through their link), the system, or a reviewer."""

    kind: str
    reviewer: Reviewer | None = None

    @property
    def label(self) -> str:
        return f"reviewer:{self.reviewer.id}" if self.reviewer else self.kind

    @property
    def roles(self) -> frozenset[str]:
        if self.reviewer is None:
            return frozenset({self.kind})
        if has_role(self.reviewer, LEAD):
            return frozenset({REVIEWER, LEAD})
        return frozenset({REVIEWER})


APPLICANT_ACTOR = Actor(APPLICANT)
SYSTEM_ACTOR = Actor(SYSTEM)


def reviewer_actor(reviewer: Reviewer) -> Actor:
    return Actor(REVIEWER, reviewer)


class DomainError(Exception):
    """A request the rules do not allow; shown to the person as a clear message (409)."""

    status_code = 409

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


class CodeRejected(DomainError):
    status_code = 422


STATUS_WORDS = {
    Status.SUBMITTED: N_("waiting for its confirmation code"),
    Status.QUEUED: N_("waiting for a reviewer"),
    Status.IN_REVIEW: N_("being reviewed"),
    Status.NEEDS_INFO: N_("waiting for more information"),
    Status.APPROVED: N_("approved"),
    Status.REJECTED: N_("refused"),
    Status.EXPIRED: N_("expired"),
    Status.WITHDRAWN: N_("withdrawn"),
}


def allowed(application: Application, action: str, actor: Actor) -> bool:
    rule = TRANSITIONS[action]
    if application.status not in rule.source or not (actor.roles & rule.actors):
        return False
    if rule.holder_only and actor.reviewer is not None and LEAD not in actor.roles:
        return bool(application.assignee_id == actor.reviewer.id)  # type: ignore[attr-defined]
    return True


def check(application: Application, action: str, actor: Actor) -> None:
    if not allowed(application, action, actor):
        rule = TRANSITIONS[action]
        if application.status in rule.source and actor.reviewer is not None:
            raise DomainError("Only the reviewer holding this application, or a lead, can do "
                              "that. Claim it first.")
        raise DomainError("This application is %(status)s, so that cannot be done now.",
                          status=STATUS_WORDS[application.status])


async def move(
    application: Application, action: str, actor: Actor, message: str = "",
    *, internal: bool = False, via: str = "",
) -> Event:
    """Check, change the status and append the event; the caller holds the transaction."""
    check(application, action, actor)
    source = application.status
    application.status = TRANSITIONS[action].target
    application.last_activity_at = datetime.now(UTC)
    await application.save()
    return await Event.create(
        application=application, actor=actor.label, type=action, from_status=source.value,
        to_status=application.status.value, message=message, internal=internal, via=via,
    )


async def locked(reference: str) -> Application:
    """The application, locked against a concurrent action on PostgreSQL (SQLite runs
    one writer at a time anyway)."""
    application = await Application.filter(reference=reference).select_for_update().first()
    if application is None:
        raise DomainError("There is no application with this reference.")
    return application
