"""The contract, served: the OpenAPI document and a page that reads it for people (drawn
on the server from the same document; no script, no CDN)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from support.web.api import openapi
from support.web.api.registry import SCOPES
from support.web.templating import render


async def openapi_json(request: Request) -> Response:
    return JSONResponse(openapi.document(), headers={"cache-control": "public, max-age=300"})


async def docs_page(request: Request) -> Response:
    document = openapi.document()
    operations = [
        {"method": method.upper(), "path": path, **operation}
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    return render(request, "api/docs.html", {
        "document": document, "operations": operations, "scopes": SCOPES,
        "schemas": document["components"]["schemas"],
        "csrf_token": "",  # no forms, and the API sets no cookie (web/security.py)
    }, lang="en")
