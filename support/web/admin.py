"""Admin pages: the people who review.

Reviewers are added by email: they get a link to choose their own password (an admin never
sees or hands over one). For each reviewer an admin can change their role and queues (on a
page of its own, ``/review/admin/reviewers/{id}``), send a new link (the old password
stops working), remove their second factor (a lost phone), end every session, or
deactivate them; each is recorded for the audit page (``accounts/history.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from tortoise.functions import Count

from support.accounts import auth, history, roles, second_factor
from support.data.models import Reviewer, ReviewerSession
from support.rules.kinds import queue_titles
from support.web import params
from support.web.auth import render_review, requires
from support.web.forms import FormInput, read_small_form
from support.workflow import reviewers as reviewer_accounts


async def _form(request: Request) -> FormInput:
    return await read_small_form(request)


async def _reviewers_page(request: Request, error: str = "", values: dict[str, Any] | None = None,
                          status: int = 200) -> Response:
    now = datetime.now(UTC)
    counted = await ReviewerSession.filter(pending=False, expires_at__gt=now).group_by(
        "reviewer_id").annotate(n=Count("id")).values("reviewer_id", "n")
    require_all = request.app.state.settings.require_2fa
    return render_review(request, "review/admin_reviewers.html", {
        "reviewers": await Reviewer.all().order_by("-active", "name"),
        "sessions": {row["reviewer_id"]: row["n"] for row in counted},
        "must_have": lambda r: second_factor.must_have(r, require_all),
        "no_password": auth.NO_PASSWORD,
        "queues": queue_titles(), "roles": roles.ROLES, "error": error, "values": values or {},
        "countries_of": _countries_of,
        "notice": request.query_params.get("notice", ""),
    }, status)


@requires("admin")
async def reviewers(request: Request) -> Response:
    return await _reviewers_page(request)


@requires("admin")
async def create_reviewer(request: Request) -> Response:
    form = await _form(request)
    names = ("email", "name", "role", "countries")
    values: dict[str, Any] = {name: form.get(name) for name in names}
    values["kinds"] = form.fields.get("kinds", [])
    countries = [c.strip() for c in values["countries"].split(",") if c.strip()]
    settings = request.app.state.settings
    try:
        await reviewer_accounts.invite(
            request.state.reviewer, values["email"], values["name"], values["role"],
            kinds=values["kinds"], countries=countries, base_url=settings.base_url,
            require_2fa=settings.require_2fa)
    except auth.AuthError as error:
        return await _reviewers_page(request, error.message, values, 422)
    return RedirectResponse("/review/admin/reviewers?notice=invited", 303)


async def _other_reviewer(request: Request, action: str) -> Reviewer | Response:
    """The reviewer in the path, other than the admin acting (their own account is theirs
    to manage from their account page); else the page to answer."""
    await _form(request)
    chosen = params.path_id(request, "reviewer_id")
    target = None if chosen is None else await Reviewer.get_or_none(id=chosen)
    if target is None:
        return render_review(request, "errors/404.html", {}, 404)
    if target.id == request.state.reviewer.id:
        return await _reviewers_page(request, f"You cannot {action} yourself.", status=409)
    return target


@requires("admin")
async def send_link(request: Request) -> Response:
    target = await _other_reviewer(request, "send a new link to")
    if isinstance(target, Response):
        return target
    settings = request.app.state.settings
    await reviewer_accounts.send_new_link(request.state.reviewer, target,
                                          base_url=settings.base_url,
                                          require_2fa=settings.require_2fa)
    return RedirectResponse("/review/admin/reviewers?notice=link-sent", 303)


@requires("admin")
async def reset_second_factor(request: Request) -> Response:
    target = await _other_reviewer(request, "reset the sign-in codes of")
    if isinstance(target, Response):
        return target
    await second_factor.reset(target, actor=history.actor_of(request.state.reviewer))
    return RedirectResponse("/review/admin/reviewers?notice=second-factor-reset", 303)


@requires("admin")
async def end_sessions(request: Request) -> Response:
    target = await _other_reviewer(request, "end every session of")
    if isinstance(target, Response):
        return target
    await auth.end_sessions(target, actor=history.actor_of(request.state.reviewer))
    return RedirectResponse("/review/admin/reviewers?notice=sessions-ended", 303)


@requires("admin")
async def deactivate_reviewer(request: Request) -> Response:
    await _form(request)
    chosen = params.path_id(request, "reviewer_id")  # 30 digits: no reviewer, not a 500
    target = None if chosen is None else await Reviewer.get_or_none(id=chosen)
    if target is None:
        return render_review(request, "errors/404.html", {}, 404)
    if target.id == request.state.reviewer.id:
        return await _reviewers_page(request, "You cannot deactivate yourself.", status=409)
    await auth.deactivate(target.email, actor=history.actor_of(request.state.reviewer))
    return RedirectResponse("/review/admin/reviewers?notice=deactivated", 303)


def _countries_of(reviewer: Reviewer) -> str:
    return reviewer_accounts.describe_countries(reviewer.countries)


# What the edit page says after a save (``?notice=``), by what the save did.
SAVED_NOTICES = ("saved", "saved-released", "unchanged")


async def _edit_page(request: Request, target: Reviewer, *, error: str = "",
                     values: dict[str, Any] | None = None, status: int = 200) -> Response:
    """The role and queues of one reviewer: ``values`` are what was typed (kept when a
    save is refused), else the account's own."""
    require_all = request.app.state.settings.require_2fa
    shown = values if values is not None else {
        "role": target.role, "kinds": list(target.kinds), "countries": ", ".join(target.countries),
    }
    notice = request.query_params.get("notice", "")
    return render_review(request, "review/admin_reviewer.html", {
        "target": target, "values": shown, "error": error,
        "target_queues": reviewer_accounts.describe_queues(target.kinds, target.countries),
        "roles": roles.ROLES, "queues": queue_titles(),
        "is_self": target.id == request.state.reviewer.id,
        "enrolled": second_factor.enrolled(target),
        "needs_codes": second_factor.needs_enrolment(target, require_all),
        "notice": notice if notice in SAVED_NOTICES else "",
    }, status)


async def _target(request: Request) -> Reviewer | None:
    chosen = params.path_id(request, "reviewer_id")  # 30 digits: no reviewer, not a 500
    return None if chosen is None else await Reviewer.get_or_none(id=chosen)


@requires("admin")
async def edit_reviewer(request: Request) -> Response:
    target = await _target(request)
    if target is None:
        return render_review(request, "errors/404.html", {}, 404)
    return await _edit_page(request, target)


@requires("admin")
async def save_reviewer(request: Request) -> Response:
    form = await _form(request)
    target = await _target(request)
    if target is None:
        return render_review(request, "errors/404.html", {}, 404)
    values: dict[str, Any] = {
        # Their own role is not on their own form: absent means unchanged.
        "role": form.get("role") or target.role, "kinds": form.fields.get("kinds", []),
        "countries": form.get("countries"),
    }
    try:
        change = await reviewer_accounts.change_access(
            request.state.reviewer, target.id, role=values["role"], kinds=values["kinds"],
            countries=values["countries"].split(","),
            require_2fa=request.app.state.settings.require_2fa)
    except LookupError:  # deleted meanwhile
        return render_review(request, "errors/404.html", {}, 404)
    except reviewer_accounts.AccessRefused as refused:
        return await _edit_page(request, target, error=refused.message, values=values,
                                status=409)
    except auth.AuthError as error:
        return await _edit_page(request, target, error=error.message, values=values,
                                status=422)
    notice = ("unchanged" if not change.changed
              else "saved-released" if change.released else "saved")
    return RedirectResponse(f"/review/admin/reviewers/{target.id}?notice={notice}", 303)


def routes() -> list[Route]:
    return [
        Route("/review/admin/reviewers", reviewers, methods=["GET"]),
        Route("/review/admin/reviewers", create_reviewer, methods=["POST"]),
        Route("/review/admin/reviewers/{reviewer_id:int}", edit_reviewer, methods=["GET"]),
        Route("/review/admin/reviewers/{reviewer_id:int}", save_reviewer, methods=["POST"]),
        Route("/review/admin/reviewers/{reviewer_id:int}/deactivate", deactivate_reviewer,
              methods=["POST"]),
        Route("/review/admin/reviewers/{reviewer_id:int}/link", send_link, methods=["POST"]),
        Route("/review/admin/reviewers/{reviewer_id:int}/second-factor/reset",
              reset_second_factor, methods=["POST"]),
        Route("/review/admin/reviewers/{reviewer_id:int}/sessions/end", end_sessions,
              methods=["POST"]),
    ]
