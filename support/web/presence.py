"""Who else has an application open, refreshed by the page (static/review/presence.js).

``GET …/presence?since=N`` is the page's poll, every few seconds while its tab is visible:
it marks the reviewer as still there and answers, in JSON, the others with the application
open (and which of them holds it) and, given the newest event the page showed (``since``,
the page's ``seen``), what changed after it by the rule a decision is checked with
(``review.changes_since``), so the page can offer a reload. ``POST …/presence/leave`` is the
page going away (hidden or closed, by ``navigator.sendBeacon`` with the form's CSRF field
and the ``mark`` its last poll answered): the others stop seeing the reviewer at their next
poll instead of after the window, unless a later page of theirs has marked them since.

Both answer 404 for an application outside the reviewer's queues, as the page does.
"""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support.data.ids import parse_id
from support.data.models import Event
from support.reads import wording
from support.reads.wording import event_words
from support.web.auth import render_review, requires
from support.web.context import reviewer_of, visible_application
from support.web.forms import read_small_form
from support.workflow import presence, review

NO_STORE = {"cache-control": "no-store"}




# Refusals are the desk's usual pages, as for every other route (a person may open the URL
# by hand); only the poll's answer is JSON, for the script.
def _not_found(request: Request) -> Response:
    return render_review(request, "errors/404.html", {}, 404)


def _unreadable(request: Request) -> Response:
    return render_review(request, "errors/400.html", {}, 400)


UNREADABLE = -1


def _since(request: Request) -> int | None:
    """The newest event id the page showed (0: it showed none), None when not asked, or
    ``UNREADABLE`` when it cannot be an event's id."""
    text = request.query_params.get("since")
    if text is None:
        return None
    if text == "0":
        return 0
    return parse_id(text) or UNREADABLE


async def _change(events: list[Event]) -> dict[str, object]:
    """The latest of ``events`` in the words its history line says ("Taken by Bob"), and
    how many."""
    latest = events[-1]
    return {"count": len(events),
            "latest": event_words(latest, await wording.actor_names([latest])),
            "version": latest.id}


@requires("reviewer")
async def poll(request: Request) -> Response:
    since = _since(request)
    if since == UNREADABLE:
        return _unreadable(request)
    application = await visible_application(request)
    if application is None:
        return _not_found(request)
    reviewer = reviewer_of(request)
    here = await presence.still_here(application, reviewer)
    changed = None
    if since is not None:
        events = await review.changes_since(application, since, reviewer)
        changed = await _change(events) if events else None
    return JSONResponse({
        "others": [{"name": other.name, "holds": other.holds} for other in here.others],
        "changed": changed,
        "mark": here.mark.isoformat(),
    }, headers=NO_STORE)


def _mark(text: str) -> datetime | None:
    """The time a poll answered as ``mark`` (ISO 8601 with its offset), or None."""
    if not text or len(text) > 40:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@requires("reviewer")
async def leave(request: Request) -> Response:
    form = await read_small_form(request)  # and the CSRF check
    mark = _mark(form.get("mark"))
    if mark is None:
        return _unreadable(request)
    application = await visible_application(request)
    if application is None:
        return _not_found(request)
    await presence.leave(application, reviewer_of(request), mark)
    return Response(status_code=204, headers=NO_STORE)


def routes() -> list[Route]:
    return [
        Route("/review/applications/{reference}/presence", poll, methods=["GET"],
              name="presence"),
        Route("/review/applications/{reference}/presence/leave", leave, methods=["POST"],
              name="presence_leave"),
    ]
