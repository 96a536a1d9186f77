"""A request id on every request: taken from ``X-Request-ID`` when a proxy (nginx's
``$request_id``) or a client sent a sane one, made up otherwise, returned in the response
header, and carried by every log line written while the request is handled.

Why: a person reporting "it failed" can quote the id from the response, and one grep then
finds the request's lines, the access line, and the worker's lines for the messages it
queued. "Sane" keeps a forged header from writing arbitrary text into the logs.
"""

from __future__ import annotations

import random
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from support.platform import logs

HEADER = "x-request-id"
_SANE = re.compile(r"[A-Za-z0-9._:-]{8,64}")


def from_header(value: str | None) -> str:
    """The client's id if it looks like an id, else a new one (16 hex characters). Not a
    secret, so not from the system's CSPRNG: a system call a request was a tenth of what
    this middleware cost."""
    if value and _SANE.fullmatch(value):
        return value
    return f"{random.getrandbits(64):016x}"


class RequestIdMiddleware:
    """Pure ASGI, outside Starlette's error middleware (see ``support.app``), so the line
    logged for a 500 and the 500 page's response carry the id too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = from_header(incoming)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        bound = logs.request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(bound)
