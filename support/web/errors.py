"""Readable pages for every refusal: a person should never see a bare status code."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from support.data import db
from support.documents.store import StorageUnavailable
from support.platform.ratelimit import RateLimited
from support.web.forms import BadForm, BodyTooLarge
from support.web.security import CsrfRejected
from support.web.templating import render
from support.workflow import DomainError

log = logging.getLogger("support.web")


async def body_too_large(request: Request, exc: Exception) -> Response:
    settings = request.app.state.settings
    response = render(request, "errors/413.html", {
        "max_mb": settings.max_file_bytes // (1024 * 1024),
        "max_body_mb": settings.max_body_bytes // (1024 * 1024),
    }, 413)
    # Without it uvicorn reads (and throws away) the rest of a 100 MB body to keep the
    # connection: measured in bench/b4_uploads.py.
    response.headers["connection"] = "close"
    return response


async def bad_form(request: Request, exc: Exception) -> Response:
    return render(request, "errors/400.html", {}, 400)


async def csrf_rejected(request: Request, exc: Exception) -> Response:
    return render(request, "errors/403.html", {}, 403)


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return render(request, "errors/409.html", {"error": exc}, exc.status_code)


async def rate_limited(request: Request, exc: Exception) -> Response:
    """429 in the applicant's language: what happened, when to come back, and that what
    they sent was not kept (the way back is the page the form is on)."""
    assert isinstance(exc, RateLimited)
    response = render(request, "errors/429.html", {
        "rule": exc.rule.value, "minutes": exc.minutes, "until": exc.until,
        "back": request.url.path,
    }, 429)
    response.headers["retry-after"] = str(exc.retry_after)
    response.headers["cache-control"] = "no-store"
    # The check before an upload is read: do not make uvicorn drain the body (see 413).
    response.headers["connection"] = "close"
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return render(request, "errors/404.html", {}, 404)
    return render(request, "errors/generic.html", {"status": exc.status_code}, exc.status_code)


def _unavailable_page(request: Request, exc: BaseException, what: str = "database") -> Response:
    """The database is restarting or unreachable: nothing the person did, and a retry in
    a few seconds works (the pool reconnects by itself), so say so instead of "error"."""
    chain: list[str] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 4:
        chain.append(type(cause).__name__)  # class names only: messages may quote values
        cause = cause.__cause__ or cause.__context__
    log.warning("%s unavailable on %s %s (%s)", what, request.method, request.url.path,
                " <- ".join(chain))
    response = render(request, "errors/503.html", {}, 503)
    response.headers["retry-after"] = "5"
    return response


async def database_unavailable(request: Request, exc: Exception) -> Response:
    if not db.unavailable(exc):
        raise exc  # not an outage after all: the 500 handler logs it as the bug it is
    return _unavailable_page(request, exc)


async def storage_unavailable(request: Request, exc: Exception) -> Response:
    """The document bucket is out of reach (``store.BucketStore``): as for the database,
    a retry once it is back works, and the person is told so."""
    return _unavailable_page(request, exc, "document storage")


async def server_error(request: Request, exc: Exception) -> Response:
    if db.unavailable(exc):  # wrapped in another error on its way up
        return _unavailable_page(request, exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return render(request, "errors/500.html", {}, 500)


HANDLERS: dict[type[Exception] | int, Callable[[Request, Exception], Awaitable[Response]]] = {
    BodyTooLarge: body_too_large,
    BadForm: bad_form,
    CsrfRejected: csrf_rejected,
    DomainError: domain_error,
    RateLimited: rate_limited,
    HTTPException: http_error,
    **dict.fromkeys(db.UNAVAILABLE, database_unavailable),
    StorageUnavailable: storage_unavailable,
    500: server_error,
}
