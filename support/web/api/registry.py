"""Each API operation declared once: its method and path, who may call it (a scope), what
it reads and what it answers, as pydantic models. ``routes()`` gives Starlette the routes;
``openapi.document()`` writes the contract from the same declarations."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]

# What a key may do. A key holds any of them; each operation needs one (or none: public).
SCOPES = {
    "permissions:read": "Check whether an account may unlock a model now.",
    "permissions:redeem": "Redeem a permission for one device and get its signed grant.",
    "applications:write": "Send applications and their confirmation codes from an app.",
    "applications:read": "Read an application's state, dates and decision.",
}


@dataclass(frozen=True)
class Answer:
    """One possible answer of an operation: its status, what it means, its body's model
    (None: no body) and the error codes it may carry."""

    description: str
    model: type[BaseModel] | None = None
    codes: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # below /api, e.g. "/v1/keys"
    handler: Handler
    operation_id: str
    summary: str
    description: str
    scope: str | None
    answers: dict[int, Answer]
    tag: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None  # JSON
    multipart: type[BaseModel] | None = None  # multipart/form-data (files as binary)
    path_params: dict[str, str] = field(default_factory=dict)  # name -> description


ENDPOINTS: list[Endpoint] = []


def endpoint(method: str, path: str, *, summary: str, scope: str | None,
             answers: dict[int, Answer], tag: str, query: type[BaseModel] | None = None,
             body: type[BaseModel] | None = None, multipart: type[BaseModel] | None = None,
             path_params: dict[str, str] | None = None) -> Callable[[Handler], Handler]:
    """Declare an operation; the handler's docstring is its description."""
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def register(handler: Handler) -> Handler:
        ENDPOINTS.append(Endpoint(
            method=method.upper(), path=path, handler=handler,
            operation_id=handler.__name__, summary=summary,
            description=inspect.cleandoc(handler.__doc__ or ""), scope=scope, answers=answers,
            tag=tag, query=query, body=body, multipart=multipart,
            path_params=path_params or {}))
        return handler

    return register


def routes() -> list[Route]:
    """Every declared operation as a route (the modules that declare them are imported by
    ``web.api.app`` first)."""
    return [Route(e.path, e.handler, methods=[e.method], name=e.operation_id)
            for e in ENDPOINTS]
