"""The reports page for leads and admins: thirty days of the desk at a glance."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from support.reads import reports
from support.reads.reports import drawing, tables
from support.web.auth import render_review, requires


@requires("lead")
async def reports_page(request: Request) -> Response:
    report = await reports.load()
    built = tables.build(report)
    return render_review(request, "review/reports.html", {
        "report": report, "tables": built, "charts": drawing.build(report, built),
        "sections": tables.SECTIONS,
    })


def routes() -> list[Route]:
    return [Route("/review/reports", reports_page, methods=["GET"], name="review_reports")]
