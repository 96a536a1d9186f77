"""Every refusal and failure of the API in one JSON shape::

    {"error": {"code": "quota_reached", "message": "...", "until": "...", ...}}

``code`` is from a small documented set (docs/api.md); ``message`` is for a person, in the
language asked for (``Accept-Language``), English otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from support.data import db
from support.platform.ratelimit import RateLimited
from support.web.forms import BadForm, BodyTooLarge
from support.workflow import DomainError

log = logging.getLogger("support.api")

NO_STORE = {"cache-control": "no-store"}


class ApiError(Exception):
    """A refusal with its HTTP status, its code, a message and any further fields of the
    error object (``until``, ``fields``, ``messages``)."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra


def problem(status: int, code: str, message: str, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body = {"error": {"code": code, "message": message,
                      **{k: v for k, v in extra.items() if v is not None}}}
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem(exc.status, exc.code, exc.message, exc.headers, **exc.extra)


_HTTP_CODES = {
    400: ("bad_request", "The request could not be read."),
    401: ("unauthorized", "Send a valid API key as 'Authorization: Bearer <key>'."),
    403: ("forbidden", "This key may not do that."),
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This address does not take that method."),
    406: ("not_acceptable", "This API answers JSON only."),
    413: ("too_large", "The request body is too large."),
    415: ("unsupported_media_type", "Send JSON, or multipart/form-data where documented."),
}


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code, message = _HTTP_CODES.get(exc.status_code, ("error", "The request was refused."))
    return problem(exc.status_code, code, message, dict(exc.headers or {}))


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return problem(exc.status_code, "conflict", exc.message % exc.params
                   if exc.params else exc.message)


async def rate_limited(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimited)
    return problem(429, "rate_limited", "Too many requests: wait before trying again.",
                   {"retry-after": str(exc.retry_after)}, retry_after=exc.retry_after)


async def bad_form(request: Request, exc: Exception) -> Response:
    return problem(400, "bad_request", "The request body could not be read.")


async def body_too_large(request: Request, exc: Exception) -> Response:
    return problem(413, "too_large", "The request body is too large.", {"connection": "close"})


async def server_error(request: Request, exc: Exception) -> Response:
    """Never a page and never a traceback: the database away is a 503 to retry, anything
    else a 500 with the request id to quote (the log has the rest)."""
    if db.unavailable(exc):
        return problem(503, "unavailable", "The service is restarting; try again in a few "
                       "seconds.", {"retry-after": "5"})
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal", "Something went wrong on our side; it was logged.")


HANDLERS = {
    ApiError: api_error,
    HTTPException: http_error,
    DomainError: domain_error,
    RateLimited: rate_limited,
    BadForm: bad_form,
    BodyTooLarge: body_too_large,
    Exception: server_error,
}
