"""The queue: its tabs, filters and search, and taking the next application."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from support import workflow
from support.data.models import Reviewer
from support.reads import queue
from support.rules import catalogue, countries
from support.rules.kinds import KINDS
from support.web.auth import render_review, requires
from support.web.forms import read_small_form
from support.workflow import risk


def _reviewer(request: Request) -> Reviewer:
    reviewer: Reviewer = request.state.reviewer
    return reviewer


@requires("reviewer")
async def home(request: Request) -> Response:
    return RedirectResponse("/review/queue", 303)


@requires("reviewer")
async def queue_page(request: Request) -> Response:
    filters = queue.Filters.from_query(dict(request.query_params))
    result = await queue.page(_reviewer(request), filters, request.query_params.get("after"))
    assignees = await Reviewer.filter(active=True).order_by("name")
    return render_review(request, "review/queue.html", {
        "page": result, "tabs": queue.TABS, "kinds": KINDS, "flags": risk.CODES,
        "countries": countries.country_choices("en"), "devices": catalogue.devices(),
        "assignees": assignees, "notice": request.query_params.get("notice", ""),
    })


@requires("reviewer")
async def take_next(request: Request) -> Response:
    await read_small_form(request)
    application = await workflow.claim_next(_reviewer(request))
    if application is None:
        return RedirectResponse("/review/queue?notice=empty", 303)
    return RedirectResponse(f"/review/applications/{application.reference}", 303)


def routes() -> list[Route]:
    return [
        Route("/review", home),
        Route("/review/queue", queue_page, name="review_queue"),
        Route("/review/next", take_next, methods=["POST"]),
    ]
