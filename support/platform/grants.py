"""Unlock grants as compact JWS (EdDSA over Ed25519, RFC 8037) through joserfc: made from a
private JWK, checked with a published key set. No hand-rolled signing."""

from __future__ import annotations

import secrets
import warnings
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey

ALG = "EdDSA"
TYPE = "unlock-grant+jwt"


def new_key(kid: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new Ed25519 key pair as (private JWK, public JWK), named by ``kid``."""
    kid = kid or secrets.token_urlsafe(12)
    key = OKPKey.generate_key("Ed25519", parameters={"kid": kid, "use": "sig", "alg": ALG},
                              private=True)
    return dict(key.as_dict(private=True)), dict(key.as_dict(private=False))


def sign(private_jwk: dict[str, Any], claims: dict[str, Any]) -> str:
    key = OKPKey.import_key(private_jwk)
    with warnings.catch_warnings():
        # RFC 9864 names "Ed25519" the fully specified algorithm and deprecates "EdDSA",
        # but every JOSE library an integrator has verifies "EdDSA" with an Ed25519 key,
        # and few know the new name yet.
        warnings.simplefilter("ignore")
        return jwt.encode({"alg": ALG, "kid": private_jwk["kid"], "typ": TYPE}, claims, key,
                          algorithms=[ALG])


def verify(token: str, public_jwks: dict[str, Any]) -> dict[str, Any]:
    """The claims of ``token`` if a key of ``public_jwks`` signed it; joserfc's error if
    not (expiry is the caller's to check: ``jwt.JWTClaimsRegistry``)."""
    keys = KeySet.import_key_set(public_jwks)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as in ``sign``
        return dict(jwt.decode(token, keys, algorithms=[ALG]).claims)
