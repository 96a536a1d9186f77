"""What every operation reads the same way: the language asked for, and a small JSON body."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from support.platform import i18n
from support.web.api.errors import ApiError

MAX_JSON_BODY = 16 * 1024


def language(request: Request) -> str:
    """``?lang=``, else ``Accept-Language``, else English (never the site's cookie: a
    service keeps none)."""
    return i18n.choose(request.query_params.get("lang"), None,
                       request.headers.get("accept-language", ""))


async def json_body(request: Request) -> Any:
    """The body as JSON, read under ``MAX_JSON_BODY``: 415 if it is not declared JSON, 413
    if larger, 400 if it does not parse."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, "unsupported_media_type",
                       "Send the body as JSON, with 'Content-Type: application/json'.")
    declared = request.headers.get("content-length", "")
    too_large = ApiError(413, "too_large", f"The body is larger than {MAX_JSON_BODY} bytes.",
                         {"connection": "close"})
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_JSON_BODY:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BODY:
            raise too_large
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "bad_request", "The body is not valid JSON.") from None
