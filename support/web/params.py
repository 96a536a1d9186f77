"""A request's parameters, read once at the edge before any of them reaches a query.

Ids (in the path, the query or a form) go through ``data.ids.parse_id``: ASCII digits
within what an id column holds, anything else is no id (a 404, or the filter left out).
Starlette's ``{name:int}`` converter takes any run of digits, so 30 of them reached
PostgreSQL's ``int4`` and SQLite's 64-bit integers and failed there (a 500, issue 19).
Text from the query has its NUL replaced by U+FFFD, as a form's has (``forms._text``):
PostgreSQL refuses a NUL in text, and such a value then matches nothing.
"""

from __future__ import annotations

from starlette.requests import Request

from support.data.ids import parse_id


def path_id(request: Request, name: str) -> int | None:
    """The id in the path parameter ``name``, or None when it cannot be one."""
    return parse_id(str(request.path_params.get(name, "")))


def text(request: Request, name: str, limit: int) -> str:
    """The query parameter ``name`` (empty if absent), without NUL, cut to ``limit``."""
    return request.query_params.get(name, "").replace("\x00", "\ufffd")[:limit]


def query(request: Request) -> dict[str, str]:
    """Every query parameter (one value a name, as ``dict(request.query_params)``), without
    NUL."""
    return {name: value.replace("\x00", "\ufffd")
            for name, value in request.query_params.items()}
