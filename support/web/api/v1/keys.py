"""The public keys that verify unlock grants (a JWKS), for tools that check offline."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from support.web.api.registry import Answer, endpoint
from support.workflow import signing


class PublicKey(BaseModel):
    kty: str = Field(description="`OKP`.")
    crv: str = Field(description="`Ed25519`.")
    x: str = Field(description="The public key, base64url.")
    kid: str = Field(description="Named in each grant's header.")
    use: str = Field(description="`sig`.")
    alg: str = Field(description="`EdDSA`.")


class KeySetAnswer(BaseModel):
    keys: list[PublicKey]


@endpoint("GET", "/v1/keys", summary="The keys that sign unlock grants (JWKS)", scope=None,
          tag="Grants", answers={200: Answer("The current key first, then any retired key "
                                             "a grant still alive may carry.", KeySetAnswer)})
async def signing_keys(request: Request) -> Response:
    """Public: verify a grant offline with the key whose `kid` its header names. A rotated
    key stays here until the grants it signed have expired; cache this for a few minutes."""
    body: dict[str, Any] = await signing.published()
    return JSONResponse(body, headers={"cache-control": "public, max-age=300"})
