"""Which service is calling: its key, from ``Authorization: Bearer``, checked against the
stored hashes, then its scope and its allowance. A refusal says which of the three."""

from __future__ import annotations

from starlette.requests import Request

from support.data.models import ApiKey
from support.platform.ratelimit import Limiter
from support.web.api.errors import ApiError
from support.workflow import api_keys

CHALLENGE = {"www-authenticate": 'Bearer realm="support"'}


async def require(request: Request, scope: str) -> ApiKey:
    """The calling key if it holds ``scope`` and has calls left; else ApiError 401, 403 or
    429 (``Retry-After``)."""
    header = request.headers.get("authorization", "")
    kind, _, given = header.partition(" ")
    if kind.lower() != "bearer" or not given.strip():
        raise ApiError(401, "unauthorized", "Send your API key as 'Authorization: Bearer "
                       "<key>'.", CHALLENGE)
    key = await api_keys.find(given.strip())
    if key is None:
        raise ApiError(401, "unauthorized", "This API key is not valid: it is unknown or "
                       "was revoked.", CHALLENGE)
    if scope not in key.scopes:
        raise ApiError(403, "forbidden", f"This key does not have the scope '{scope}'.",
                       required_scope=scope)
    limiter: Limiter = request.app.state.limiter
    await limiter.hit_api_key(key.id)
    request.state.api_key = key.name  # the access log and the events name the service
    return key
