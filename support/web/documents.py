"""Documents on the desk: served only to reviewers whose queues hold the application, only
once made safe, and each view recorded."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from tortoise.expressions import Q

from support.accounts.scope import in_scope
from support.config import Settings
from support.data.models import Application, Document, Event, Reviewer
from support.documents.filing import sanitise_document
from support.documents.storage import DocumentStore
from support.web import params
from support.web.auth import render_review, requires


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _reviewer(request: Request) -> Reviewer:
    reviewer: Reviewer = request.state.reviewer
    return reviewer


@requires("reviewer")
async def document(request: Request) -> Response:
    """Documents only through here: in the reviewer's queues, never cached by the browser
    for others, never sniffed into HTML, and only once sanitised (documents.filing)."""
    doc_id = params.path_id(request, "document_id")  # 2**31 and up: no document, not a 500
    found = None if doc_id is None else await Document.get_or_none(
        id=doc_id).prefetch_related("application")
    reviewer = _reviewer(request)
    if found is None or not await Application.filter(
        Q(id=found.application.id) & in_scope(reviewer)
    ).exists():
        return render_review(request, "errors/404.html", {}, 404)
    settings = _settings(request)
    if not await sanitise_document(settings, found):  # on demand if the worker is behind
        return render_review(request, "review/document_unsafe.html", {
            "document": found, "application": found.application}, 409)
    store = DocumentStore.of(settings)
    disposition = "attachment" if request.query_params.get("download") else "inline"
    await Event.create(application=found.application, actor=f"reviewer:{reviewer.id}",
                       type="document_viewed", internal=True,
                       message=f"Viewed {found.purpose} ({found.original_name}).")
    return FileResponse(
        store.path(found.storage_key), media_type=found.content_type,
        content_disposition_type=disposition, filename=found.original_name,
        headers={"x-content-type-options": "nosniff", "cache-control": "private, no-store",
                 "content-security-policy": "default-src 'none'; img-src 'self'; "
                 "style-src 'unsafe-inline'; sandbox"},
    )


def routes() -> list[Route]:
    return [
        Route("/review/documents/{document_id:int}", document, name="review_document"),
    ]
