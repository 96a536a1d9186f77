"""Which applications a reviewer may see: the queues they work (``Reviewer.kinds``: each
kind declares its queue) and, if set, their countries; leads and admins see every queue.
One rule, in two forms: a query condition for lists and claims, and a test for an
application already in hand."""

from __future__ import annotations

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


def works_queue_of(reviewer: Reviewer, application: Application) -> bool:
    """The same rule as ``in_scope``, for one application already in hand."""
    if has_role(reviewer, LEAD):
        return True
    return application.kind in kinds_in(reviewer.kinds) and (
        not reviewer.countries or application.country in reviewer.countries)
