"""Which applications a reviewer may see: the queues they work (``Reviewer.kinds``: each
kind declares its queue) and, if set, their countries; leads and admins see every queue.
One rule, in two forms: a query condition for lists and claims, and a test for an
application already in hand."""

from __future__ import annotations

from datetime import datetime

from tortoise.expressions import Q

from support.accounts.roles import LEAD, has_role
from support.data.models import Application, Reviewer
from support.rules.kinds import kinds_in


def in_scope(reviewer: Reviewer) -> Q:
    """The condition on ``Application`` rows this reviewer may see."""
    if has_role(reviewer, LEAD):
        return Q()
    scope = Q(kind__in=kinds_in(reviewer.kinds) or ["__none__"])
    if reviewer.countries:
        scope &= Q(country__in=reviewer.countries)
    return scope


def claimable_by(reviewer: Reviewer, now: datetime) -> Q:
    """Not held for someone else: a reply goes first to the reviewer who asked, until the
    hold ends."""
    return Q(held_for_id=None) | Q(held_for_id=reviewer.id) | Q(held_until__lt=now)


def held_for_another(application: Application, reviewer: Reviewer, now: datetime) -> bool:
    """``claimable_by``'s rule, negated, for one application already in hand."""
    held_for = application.held_for_id  # type: ignore[attr-defined]
    return (held_for is not None and held_for != reviewer.id
            and application.held_until is not None and application.held_until >= now)


def works_queue_of(reviewer: Reviewer, application: Application) -> bool:
    """The same rule as ``in_scope``, for one application already in hand."""
    if has_role(reviewer, LEAD):
        return True
    return application.kind in kinds_in(reviewer.kinds) and (
        not reviewer.countries or application.country in reviewer.countries)
