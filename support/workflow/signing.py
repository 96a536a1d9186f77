"""The keys that sign unlock grants: the newest signs, a rotated one stays published until
every grant it signed has expired, so a tool that verifies offline never meets a grant
whose key has gone."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from support.data.models import SigningKey
from support.platform import grants

log = logging.getLogger("support.workflow")

# How long a grant lives: the unlock tool redeems and uses it within minutes.
GRANT_LIFETIME = timedelta(minutes=15)


async def rotate() -> SigningKey:
    """A new signing key; the one it replaces is retired (still published for a grant's
    lifetime)."""
    async with in_transaction():
        now = datetime.now(UTC)
        await SigningKey.filter(retired_at=None).update(retired_at=now)
        private, public = grants.new_key()
        key = await SigningKey.create(kid=public["kid"], private_jwk=private, public_jwk=public)
    log.info("signing key %s made; earlier keys retired", key.kid)
    return key


async def current() -> SigningKey:
    """The key that signs now (one is made on first use)."""
    key = await SigningKey.filter(retired_at=None).order_by("-id").first()
    return key if key is not None else await rotate()


async def published(now: datetime | None = None) -> dict[str, Any]:
    """The JWKS: the current key and every retired one a live grant may carry."""
    now = now or datetime.now(UTC)
    await current()
    rows = await SigningKey.filter(
        Q(retired_at=None) | Q(retired_at__gt=now - GRANT_LIFETIME)).order_by("-id")
    return {"keys": [row.public_jwk for row in rows]}
