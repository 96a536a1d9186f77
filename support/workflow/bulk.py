"""A lead's action on several applications at once: each goes through the same workflow
action as one alone (its own transaction, event and checks), and one that fails (decided
meanwhile, released by its holder, a target who does not work its queue) is reported by
its reference while the rest go on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tortoise.expressions import Q

from support.accounts.scope import in_scope
from support.data.models import Application, Reviewer
from support.platform import tokens
from support.workflow import review
from support.workflow.machine import Actor, DomainError


@dataclass
class Outcome:
    """The references done, and those not done with why, in the order they were given."""

    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


async def _each(typed: list[str], actor: Actor,
                action: Callable[[Application], Awaitable[None]]) -> Outcome:
    outcome = Outcome()
    assert actor.reviewer is not None
    parsed = {text: tokens.parse_reference(text) for text in typed}
    # One read of them all (at most web.queue.BULK_MAX); each is locked again by its action.
    found = {application.reference: application for application in await Application.filter(
        Q(reference__in=[r for r in parsed.values() if r]) & in_scope(actor.reviewer))}
    for text, reference in parsed.items():
        application = found.get(reference) if reference else None
        if application is None:
            outcome.failed.append((text[:32], "No such application in your queues."))
            continue
        try:
            await action(application)
        except DomainError as error:
            outcome.failed.append((application.reference, error.message % error.params
                                   if error.params else error.message))
        else:
            outcome.done.append(application.reference)
    return outcome


async def reassign_each(references: list[str], actor: Actor, to: Reviewer) -> Outcome:
    """``review.reassign`` of each application to ``to``."""
    async def one(application: Application) -> None:
        await review.reassign(application, actor, to)

    return await _each(references, actor, one)


async def release_each(references: list[str], actor: Actor) -> Outcome:
    """``review.release`` of each application back to the queue."""
    async def one(application: Application) -> None:
        await review.release(application, actor)

    return await _each(references, actor, one)
