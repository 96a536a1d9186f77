"""Every answer the tests get from the API, checked against the contract the API serves.

``check(answer)`` finds the operation by the request's method and the path templates of the
OpenAPI document (``support.web.api.openapi.document()``, loaded once per process), then
asserts that the status is one the operation declares, that a declared body is JSON with
the declared content type, and that the body is valid against that status's schema (JSON
Schema 2020-12, the dialect of OpenAPI 3.1, formats such as ``date-time`` checked). Any
difference is an ``AssertionError`` that says which operation, which status and what is
wrong, with the body.

An address under ``/api`` that no operation serves may answer only 404 or 405, in the
API's error shape (``ErrorResponse``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx2
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from support.web.api import openapi

__all__ = ["check", "document", "operation_for"]

_BASE = "urn:support-api:openapi"
_FORMATS = Draft202012Validator.FORMAT_CHECKER


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # "/api/v1/accounts/{account_id}/permission"
    pattern: re.Pattern[str]
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.method} {self.template} ({self.spec.get('operationId', '?')})"


def document() -> dict[str, Any]:
    """The served document (the app's own, built once)."""
    return openapi.document()


@cache
def _registry() -> Registry:
    resource = Resource.from_contents(document(), default_specification=DRAFT202012)
    return Registry().with_resource(_BASE, resource)


@cache
def _operations() -> tuple[Operation, ...]:
    found = []
    for template, methods in document()["paths"].items():
        # A template's literal parts escaped, each {name} one path segment.
        parts = re.split(r"({\w+})", template)
        regex = "".join("[^/]+" if re.fullmatch(r"{\w+}", p) else re.escape(p) for p in parts)
        for method, spec in methods.items():
            if method in {"get", "put", "post", "delete", "patch", "head", "options"}:
                found.append(Operation(method.upper(), template, re.compile(f"^{regex}$"),
                                       spec))
    # Literal paths before templated ones, so /v1/x/mine wins over /v1/x/{id}.
    return tuple(sorted(found, key=lambda o: o.template.count("{")))


def operation_for(method: str, path: str) -> Operation | None:
    for operation in _operations():
        if operation.method == method.upper() and operation.pattern.match(path):
            return operation
    return None


@cache
def _validator(pointer: str) -> Draft202012Validator:
    schema = {"$ref": f"{_BASE}#{pointer}"}
    return Draft202012Validator(schema, registry=_registry(), format_checker=_FORMATS)


def _pointer_of(schema: dict[str, Any], where: str) -> str:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        return ref[1:]
    return where  # an inline schema: validate it where it stands in the document


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _short(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def _body_of(answer: httpx2.Response, what: str) -> Any:
    content_type = answer.headers.get("content-type", "")
    if not content_type.split(";")[0].strip().lower() == "application/json":
        raise AssertionError(f"{what}: the answer is {content_type or 'without a type'!r}, "
                             f"not application/json: {_short(answer.text)!r}")
    try:
        return json.loads(answer.content)
    except ValueError as exc:
        raise AssertionError(f"{what}: the body is not JSON ({exc}): "
                             f"{_short(answer.text)!r}") from None


def _validate(body: Any, pointer: str, what: str) -> None:
    error = best_match(_validator(pointer).iter_errors(body))
    if error is not None:
        at = "/".join(str(p) for p in error.absolute_path) or "(the body)"
        raise AssertionError(
            f"{what}: the body is off the schema {pointer.rsplit('/', 1)[-1]!r} at {at}: "
            f"{error.message}\nbody: {_short(json.dumps(body, ensure_ascii=False))}")


def check(answer: httpx2.Response) -> None:
    """Assert that ``answer`` is one the served OpenAPI document allows (see the module)."""
    request = answer.request
    method, path = request.method.upper(), request.url.path
    status = answer.status_code
    operation = operation_for(method, path)
    if operation is None:
        what = f"{method} {path} → {status}"
        if not path.startswith("/api/"):
            raise AssertionError(f"{what}: not an address of the API")
        assert status in (404, 405), (
            f"{what}: no operation of the document serves this method and path, so the only "
            f"answers allowed are 404 and 405")
        _validate(_body_of(answer, what), "/components/schemas/ErrorResponse", what)
        return
    what = f"{operation.name} → {status}"
    responses: dict[str, Any] = operation.spec.get("responses", {})
    declared = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") \
        or responses.get("default")
    if declared is None:
        raise AssertionError(
            f"{what}: status {status} is not declared (declared: "
            f"{', '.join(sorted(responses))}); body: {_short(answer.text)!r}")
    key = next(k for k in (str(status), f"{str(status)[0]}XX", "default") if k in responses)
    content: dict[str, Any] = declared.get("content") or {}
    if not content:
        assert not answer.content, (
            f"{what}: the document declares no body for this status, but one came: "
            f"{_short(answer.text)!r}")
        return
    media = content.get("application/json")
    if media is None:
        raise AssertionError(f"{what}: the document declares only {sorted(content)} here; "
                             f"this checker reads JSON answers only")
    body = _body_of(answer, what)
    schema = media.get("schema")
    if schema is None:
        return
    where = (f"/paths/{_escape(operation.template)}/{operation.method.lower()}"
             f"/responses/{_escape(key)}/content/application~1json/schema")
    _validate(body, _pointer_of(schema, where), what)
