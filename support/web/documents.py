"""Documents on the desk: served only to reviewers whose queues hold the application, only
once made safe, and each opening recorded.

Three routes serve a document's pictures, and only the two a reviewer reaches by opening
one count as a view in the audit trail (``document_viewed``): the file itself (the link
that opens it, the download, the viewer showing a photo) and a PDF's first page (where the
viewer and the page links open a PDF). Thumbnails drawn with the application page, and
the pages after the first of a PDF already opened, are not views. The viewer opens an
application's first document as its page loads (one key fewer per application), so each
visit with JavaScript records one view of it: the reviewer was shown it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from support.accounts.scope import works_queue_of
from support.config import Settings
from support.data.models import Document, Event
from support.documents import rendering
from support.documents.filing import count_pages, sanitise_document
from support.documents.store import DocumentStore, StorageUnavailable
from support.web import params
from support.web.auth import render_review, requires
from support.web.context import reviewer_of, settings_of

log = logging.getLogger("support.web")

PDF = "application/pdf"
# A picture of a document is the applicant's data: never kept by the browser or a proxy,
# never sniffed into something that runs, and nothing it could load.
HEADERS = {"x-content-type-options": "nosniff", "cache-control": "private, no-store",
           "content-security-policy": "default-src 'none'; img-src 'self'; "
           "style-src 'unsafe-inline'; sandbox"}




async def _safe_document(request: Request) -> Document | Response:
    """The document of the path if this reviewer may see it and it is safe to serve; else
    the page to answer with (404 outside the reviewer's queues, 409 if it is unsafe)."""
    doc_id = params.path_id(request, "document_id")  # 2**31 and up: no document, not a 500
    found = None if doc_id is None else await Document.get_or_none(
        id=doc_id).select_related("application")
    # One statement on a path every thumbnail and page takes: the row with its application,
    # then the scope rule for an application in hand.
    if found is None or not works_queue_of(reviewer_of(request), found.application):
        return render_review(request, "errors/404.html", {}, 404)
    if not await sanitise_document(settings_of(request), found):  # if the worker is behind
        return render_review(request, "review/document_unsafe.html", {
            "document": found, "application": found.application}, 409)
    return found


async def _record_view(request: Request, document: Document, how: str) -> None:
    await Event.create(application=document.application,
                       actor=f"reviewer:{reviewer_of(request).id}",
                       type="document_viewed", internal=True,
                       message=f"{how} {document.purpose.replace('_', ' ')} "
                               f"({document.original_name}).")


def _unreadable(request: Request, document: Document) -> Response:
    """A file PDFium or Pillow could not draw: said in words, with the download (422)."""
    return render_review(request, "review/document_unreadable.html", {
        "document": document, "application": document.application}, 422)


def _unreachable(request: Request, document: Document, error: OSError) -> Response:
    """The bucket is out of reach (``store.StorageUnavailable``): said on the desk's own
    page, with the way back, and logged without the document's name."""
    log.warning("document storage unavailable on %s (%s)", request.url.path, error)
    response = render_review(request, "review/document_unreachable.html", {
        "document": document, "application": document.application}, 503)
    response.headers["retry-after"] = "30"
    return response


def _picture(data: bytes) -> Response:
    return Response(data, media_type=rendering.MEDIA_TYPE, headers=HEADERS)


@requires("reviewer")
async def document(request: Request) -> Response:
    """The file as it is kept: opened inline (the viewer, the link) or downloaded; both are
    views."""
    found = await _safe_document(request)
    if isinstance(found, Response):
        return found
    download = bool(request.query_params.get("download"))
    try:
        kept = await DocumentStore.of(settings_of(request)).open(found.storage_key)
    except FileNotFoundError:
        return render_review(request, "errors/404.html", {}, 404)
    except StorageUnavailable as error:
        return _unreachable(request, found, error)
    await _record_view(request, found, "Downloaded" if download else "Viewed")
    disposition = "attachment" if download else "inline"
    if kept.path is not None:
        return FileResponse(kept.path, media_type=found.content_type, headers=HEADERS,
                            content_disposition_type=disposition,
                            filename=found.original_name)
    # From the bucket, a piece at a time as it arrives: never held whole.
    assert kept.pieces is not None
    return StreamingResponse(kept.pieces, media_type=found.content_type, headers={
        **HEADERS, "content-length": str(kept.size),
        "content-disposition": _disposition(disposition, found.original_name)})


def _disposition(kind: str, filename: str) -> str:
    """As Starlette's ``FileResponse`` writes it: a name beyond ASCII in RFC 5987's form."""
    quoted = quote(filename)
    if quoted != filename:
        return f"{kind}; filename*=utf-8''{quoted}"
    return f'{kind}; filename="{filename}"'


@requires("reviewer")
async def thumbnail(request: Request) -> Response:
    """A small picture drawn with the application page: not a view."""
    found = await _safe_document(request)
    if isinstance(found, Response):
        return found
    settings = settings_of(request)
    try:
        data = await rendering.thumbnail(
            _local(DocumentStore.of(settings), found), found.storage_key,
            found.content_type, settings.max_image_pixels)
    except (rendering.Unrenderable, FileNotFoundError):
        return _unreadable(request, found)
    except StorageUnavailable as error:
        return _unreachable(request, found, error)
    return _picture(data)


@requires("reviewer")
async def page(request: Request) -> Response:
    """Page n of a PDF as a picture; the first page opens it, which is a view."""
    found = await _safe_document(request)
    if isinstance(found, Response):
        return found
    number = params.path_id(request, "page")
    if found.content_type != PDF or number is None:
        return render_review(request, "errors/404.html", {}, 404)
    local = _local(DocumentStore.of(settings_of(request)), found)
    try:
        data = await rendering.pdf_page(local, found.storage_key, number)
    except rendering.NoSuchPage:
        return render_review(request, "errors/404.html", {}, 404)
    except (rendering.Unrenderable, FileNotFoundError):
        return _unreadable(request, found)
    except StorageUnavailable as error:
        return _unreachable(request, found, error)
    if number == 1:
        await _record_view(request, found, "Viewed")
    return _picture(data)


async def page_counts(request: Request, documents: Iterable[Document]) -> dict[int, int | None]:
    """Each safe PDF's page count for the application page (None: it cannot be drawn, the
    page says so). Photos have none. A PDF the worker has not reached yet is made safe
    first, as its thumbnail would be a moment later (``sanitise_document`` marks ``doc``
    itself if it cannot be, so the page shows that instead)."""
    settings = settings_of(request)
    store = DocumentStore.of(settings)
    safe = [doc for doc in documents
            if doc.content_type == PDF and await _safe_or_not_yet(settings, doc)]
    # Counted when filed (``filing.count_pages``); a PDF filed before that was kept is
    # counted here once, its pages drawn side by side (the renderer's slots bound them).
    uncounted = [doc for doc in safe if doc.page_count is None]
    await asyncio.gather(*(count_pages(store, doc) for doc in uncounted))
    return {doc.id: doc.page_count or None for doc in safe}


def _local(store: DocumentStore, document: Document) -> rendering.Local:
    """The document's file on this machine while it is drawn (fetched from a bucket)."""
    return functools.partial(store.local_copy, document.storage_key)


async def _safe_or_not_yet(settings: Settings, document: Document) -> bool:
    """``sanitise_document``, except that a store out of reach leaves the PDF out of the
    count rather than the application page unanswered."""
    try:
        return await sanitise_document(settings, document)
    except OSError:
        return False


def routes() -> list[Route]:
    return [
        Route("/review/documents/{document_id:int}", document, name="review_document"),
        Route("/review/documents/{document_id:int}/thumbnail", thumbnail,
              name="review_document_thumbnail"),
        Route("/review/documents/{document_id:int}/pages/{page:int}", page,
              name="review_document_page"),
    ]
