"""The API as its own Starlette app, mounted at ``/api``: its routes come from the declared
operations, and every answer, a 404 or a failure included, is JSON (``errors``)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from support.web.api import (
    errors,
    meta,
    registry,
    v1,  # noqa: F401  (importing it declares the operations)
)


def api_app() -> Starlette:
    routes: list[BaseRoute] = [
        *registry.routes(),
        Route("/v1/openapi.json", meta.openapi_json, methods=["GET"], name="openapi"),
        Route("/docs", meta.docs_page, methods=["GET"], name="api_docs"),
    ]
    return Starlette(routes=routes, exception_handlers=errors.HANDLERS)
