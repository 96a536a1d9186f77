"""The OpenAPI 3.1 document, written from the declared operations (``registry``) and their
pydantic models: nothing about the API is described twice."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from support.web.api.registry import ENDPOINTS, SCOPES, Endpoint
from support.web.api.schemas import ErrorResponse

VERSION = "1.0.0"
_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
# Every operation may answer these besides its own (a key refused, a limit, a failure).
_COMMON = {
    401: "No key, or a key that is not valid (revoked, unknown).",
    403: "The key lacks the operation's scope.",
    429: "The key's rate limit is spent; `Retry-After` says for how long.",
    500: "A failure on our side; it was logged.",
    503: "The service is restarting; retry after `Retry-After` seconds.",
}


def _models() -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {"ErrorResponse": ErrorResponse}
    for e in ENDPOINTS:
        for model in (e.query, e.body, e.multipart,
                      *(answer.model for answer in e.answers.values())):
            if model is not None:
                seen[model.__name__] = model
    return list(seen.values())


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _parameters(e: Endpoint, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
         "description": e.path_params.get(name, "")}
        for name in _PARAM.findall(e.path)]
    if e.query is not None:
        schema = schemas[e.query.__name__]
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required,
                           "schema": {k: v for k, v in prop.items() if k != "description"},
                           "description": prop.get("description", "")})
    return params


def _operation(e: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": e.operation_id, "summary": e.summary, "description": e.description,
        "tags": [e.tag], "parameters": _parameters(e, schemas), "responses": {},
    }
    if e.scope is None:
        op["security"] = []
    else:
        op["security"] = [{"bearer": [e.scope]}]
    if e.body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": _ref(e.body)}}}
    if e.multipart is not None:
        op["requestBody"] = {"required": True,
                             "content": {"multipart/form-data": {"schema": _ref(e.multipart)}}}
    for status, answer in sorted(e.answers.items()):
        response: dict[str, Any] = {"description": answer.description}
        if answer.codes:
            response["description"] += " Codes: " + ", ".join(
                f"`{code}`" for code in answer.codes) + "."
        if answer.model is not None:
            response["content"] = {"application/json": {"schema": _ref(answer.model)}}
        if answer.headers:
            response["headers"] = {h: {"schema": {"type": "string"}} for h in answer.headers}
        op["responses"][str(status)] = response
    common = _COMMON if e.scope is not None else {k: v for k, v in _COMMON.items()
                                                 if k >= 429}
    for status, description in common.items():
        response = {"description": description,
                    "content": {"application/json": {"schema": _ref(ErrorResponse)}}}
        if status in (429, 503):
            response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        op["responses"].setdefault(str(status), response)
    return op


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The whole document (built once: the operations are fixed at import)."""
    _, defs = models_json_schema([(m, "validation") for m in _models()],
                                 ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = defs.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for e in ENDPOINTS:
        path = "/api" + _PARAM.sub(r"{\1}", e.path)
        paths.setdefault(path, {})[e.method.lower()] = _operation(e, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Support desk API", "version": VERSION,
                 "description": "Permissions to unlock, applications from apps, and the "
                                "desk's events, for the maker's services. See docs/api.md."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "An API key: `support api-key create NAME --scope ...`. "
                               "Scopes: " + "; ".join(f"`{k}`: {v}" for k, v in
                                                     SCOPES.items())}},
        },
    }
