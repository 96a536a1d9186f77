"""The audit trail for admins: who did what to which application, and who looked at which
document. Admins only: the trail names every reviewer and quotes their notes, which a
lead's job does not need."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from support.reads import audit
from support.web import params
from support.web.auth import render_review, requires


@requires("admin")
async def audit_page(request: Request) -> Response:
    filters = audit.AuditFilters.from_query(params.query(request))
    result = await audit.page(filters, request.query_params.get("after"))
    accounts = await audit.account_changes(filters, request.query_params.get("accounts_after"))
    return render_review(request, "review/admin_audit.html", {"page": result,
                                                              "accounts": accounts})


def routes() -> list[Route]:
    return [Route("/review/admin/audit", audit_page, methods=["GET"], name="review_audit")]
