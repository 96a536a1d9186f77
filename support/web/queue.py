"""The queue: its tabs, filters and search, My work, taking the next application, and
leads' actions on several applications at once."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from support import workflow
from support.data.ids import parse_id
from support.data.models import Reviewer
from support.reads import my_work, queue
from support.rules import catalogue, countries
from support.rules.kinds import KINDS
from support.web.auth import render_review, requires
from support.web.context import reviewer_of
from support.web.forms import read_small_form
from support.workflow import bulk, risk

# The most applications one bulk action takes: a page of the queue.
BULK_MAX = queue.PAGE_SIZE



@requires("reviewer")
async def home(request: Request) -> Response:
    return RedirectResponse("/review/queue", 303)


@requires("reviewer")
async def queue_page(request: Request) -> Response:
    reviewer = reviewer_of(request)
    filters = queue.Filters.from_query(dict(request.query_params))
    if filters.search:
        result = await queue.search(reviewer, filters)
    else:
        result = await queue.page(reviewer, filters, request.query_params.get("after"))
    assignees = await Reviewer.filter(active=True).order_by("name")
    return render_review(request, "review/queue.html", {
        "page": result, "tabs": queue.TABS, "kinds": KINDS, "flags": risk.CODES,
        "countries": countries.country_choices("en"), "devices": catalogue.devices(),
        "assignees": assignees, "notice": request.query_params.get("notice", ""),
    })


@requires("reviewer")
async def my_work_page(request: Request) -> Response:
    reviewer = reviewer_of(request)
    work = await my_work.my_work(reviewer)
    filters = queue.Filters(tab="mine")
    counts = await queue.tab_counts(reviewer, queue.filtered(reviewer, filters),
                                    mine=sum(work.counts.values()))
    return render_review(request, "review/my_work.html", {
        "work": work, "sections": my_work.SECTIONS, "tabs": queue.TABS, "kinds": KINDS,
        "filters": filters,
        "labels": {tab: queue.count_label(count) for tab, count in counts.items()},
        "section_labels": {name: queue.count_label(count)
                           for name, count in work.counts.items()},
    })


@requires("reviewer")
async def take_next(request: Request) -> Response:
    await read_small_form(request)
    reviewer = reviewer_of(request)
    application = await workflow.claim_next(reviewer)
    if application is None:
        notice = "own_appeals" if await queue.only_own_appeals_waiting(reviewer) else "empty"
        return RedirectResponse(f"/review/queue?notice={notice}", 303)
    return RedirectResponse(f"/review/applications/{application.reference}", 303)


@requires("lead")
async def bulk_action(request: Request) -> Response:
    """Reassign or release the selected applications, each through the workflow; what
    failed for one is reported by its reference and the rest go on."""
    form = await read_small_form(request)
    action = form.get("action")
    references = list(dict.fromkeys(form.fields.get("reference", [])))
    tab = form.get("tab")
    back = "/review/queue" + (f"?{urlencode({'tab': tab})}" if tab in queue.TABS else "")
    problem = ""
    target: Reviewer | None = None
    if action not in {"reassign", "release"}:
        problem = "Choose reassign or release."
    elif not references:
        problem = "Select at least one application first."
    elif len(references) > BULK_MAX:
        problem = f"Select at most {BULK_MAX} applications at once."
    elif action == "reassign":
        chosen = parse_id(form.get("reviewer_id"))
        target = await Reviewer.get_or_none(id=chosen, active=True) if chosen else None
        if target is None:
            problem = "Choose the reviewer to reassign them to."
    if problem:
        return render_review(request, "review/bulk_done.html",
                             {"problem": problem, "back": back}, 400)
    actor = workflow.reviewer_actor(reviewer_of(request))
    if action == "reassign":
        assert target is not None
        outcome = await bulk.reassign_each(references, actor, target)
    else:
        outcome = await bulk.release_each(references, actor)
    return render_review(request, "review/bulk_done.html", {
        "outcome": outcome, "action": action, "target": target, "back": back,
    })


def routes() -> list[Route]:
    return [
        Route("/review", home),
        Route("/review/queue", queue_page, name="review_queue"),
        Route("/review/mine", my_work_page, name="review_my_work"),
        Route("/review/next", take_next, methods=["POST"]),
        Route("/review/queue/bulk", bulk_action, methods=["POST"]),
    ]
