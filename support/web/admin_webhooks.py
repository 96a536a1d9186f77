"""Admin page: the maker's webhook endpoints. Listed with their events and how their last
delivery went; added with an address and the events chosen (the signing secret is shown
once, on the page that answers the form, with how to check a signature); disabled."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from support.accounts import history
from support.data.models import Reviewer
from support.notify.webhooks import (
    EVENTS,
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMEOUT,
    TIMESTAMP_HEADER,
    TOLERANCE,
)
from support.web import params
from support.web.auth import render_review, requires
from support.web.forms import read_small_form
from support.workflow import webhooks


async def _page(request: Request, *, error: str = "", typed: dict[str, Any] | None = None,
                created: webhooks.NewEndpoint | None = None, status: int = 200) -> Response:
    rows = await webhooks.listed()
    makers = {row.endpoint.created_by for row in rows}
    ids = [int(actor.split(":", 1)[1]) for actor in makers
           if actor.startswith("reviewer:") and actor.split(":", 1)[1].isdigit()]
    names = {history.actor_of(r): r.name for r in await Reviewer.filter(id__in=ids)} if ids else {}
    return render_review(request, "review/admin_webhooks.html", {
        # The template gets the addresses, events and dates, never an endpoint's secret,
        # except the new one's, once.
        "rows": [{"id": row.endpoint.id, "url": row.endpoint.url, "events": row.endpoint.events,
                  "created_at": row.endpoint.created_at,
                  "created_by": names.get(row.endpoint.created_by, ""),
                  "disabled_at": row.endpoint.disabled_at, "last": row.last}
                 for row in rows],
        "events": EVENTS, "error": error, "typed": typed or {"url": "", "events": []},
        "created": ({"id": created.endpoint.id, "url": created.endpoint.url,
                     "secret": created.secret} if created else None),
        "headers": {"id": ID_HEADER, "timestamp": TIMESTAMP_HEADER,
                    "signature": SIGNATURE_HEADER},
        "timeout": TIMEOUT, "tolerance": TOLERANCE,
        "notice": request.query_params.get("notice", ""),
    }, status)


@requires("admin")
async def endpoints(request: Request) -> Response:
    return await _page(request)


@requires("admin")
async def add_endpoint(request: Request) -> Response:
    form = await read_small_form(request)
    url = form.get("url").strip()[:2000]
    events = list(form.fields.get("events", []))
    typed = {"url": url, "events": events}
    try:
        made = await webhooks.register(url, events,
                                       by=history.actor_of(request.state.reviewer))
    except webhooks.WebhookRefused as refused:
        return await _page(request, error=str(refused), typed=typed, status=422)
    # The answer itself shows the secret (not a redirect: it must not sit in a URL).
    return await _page(request, created=made)


@requires("admin")
async def disable_endpoint(request: Request) -> Response:
    await read_small_form(request)
    chosen = params.path_id(request, "endpoint_id")  # 30 digits: nothing, not a 500
    done = chosen is not None and await webhooks.disable(
        chosen, by=history.actor_of(request.state.reviewer)) is not None
    return RedirectResponse(
        f"/review/admin/webhooks?notice={'disabled' if done else 'nothing'}", 303)


def routes() -> list[Route]:
    return [
        Route("/review/admin/webhooks", endpoints, methods=["GET"]),
        Route("/review/admin/webhooks", add_endpoint, methods=["POST"]),
        Route("/review/admin/webhooks/{endpoint_id:int}/disable", disable_endpoint,
              methods=["POST"]),
    ]
