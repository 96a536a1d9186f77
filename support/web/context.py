"""What a request carries on the desk: the app's settings, the signed-in reviewer (set by
``web.auth.requires``), and the application in the path as that reviewer may see it."""

from __future__ import annotations

from starlette.requests import Request
from tortoise.expressions import Q

from support.accounts.scope import in_scope
from support.config import Settings
from support.data.models import Application, Reviewer
from support.platform import tokens


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def reviewer_of(request: Request) -> Reviewer:
    reviewer: Reviewer = request.state.reviewer
    return reviewer


async def visible_application(request: Request) -> Application | None:
    """The application in the path if it is in this reviewer's queues; otherwise it does
    not exist for them (a 404 wherever it is asked for: its page, its poll, its actions),
    so references cannot be probed."""
    reference = tokens.parse_reference(request.path_params["reference"])
    if reference is None:
        return None
    return await Application.filter(Q(reference=reference) & in_scope(reviewer_of(request))).first()
