"""Readable pages for every refusal: a person should never see a bare status code."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

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


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return render(request, "errors/404.html", {}, 404)
    return render(request, "errors/generic.html", {"status": exc.status_code}, exc.status_code)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return render(request, "errors/500.html", {}, 500)


HANDLERS = {
    BodyTooLarge: body_too_large,
    BadForm: bad_form,
    CsrfRejected: csrf_rejected,
    DomainError: domain_error,
    HTTPException: http_error,
    500: server_error,
}
