"""The reviewers' "Mail" page: mail that reached no application, with its words, so a
person who wrote to the wrong place is not lost; and what became of the rest."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from support.data.ids import parse_id
from support.reads import mail
from support.web.auth import render_review, requires
from support.web.params import text
from support.workflow.mail import OUTCOMES

TABS = (("unplaced", "No application found"), ("taken", "Added to applications"),
        ("reports", "Delivery reports"), ("automatic", "Automatic"))


@requires("reviewer")
async def mail_page(request: Request) -> Response:
    view = text(request, "view", 16)
    view = view if view in mail.VIEWS else "unplaced"
    page = await mail.listed(view, parse_id(text(request, "before", 24)))
    return render_review(request, "review/mail.html", {
        "view": view, "tabs": TABS, "page": page, "outcomes": OUTCOMES,
    })


def routes() -> list[Route]:
    return [Route("/review/mail", mail_page, methods=["GET"], name="review_mail")]
