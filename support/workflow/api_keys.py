"""Service keys for the maker's API: made (the key shown once, only its hash kept),
listed, revoked, and found from what a caller sends."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from support.data.models import ApiKey

log = logging.getLogger("support.workflow")

PREFIX = "sk_"
# A key's last use is written at most once a minute: the check is the API's busiest call,
# and a write per call would be most of its cost.
TOUCH_EVERY = timedelta(minutes=1)


class KeyRefused(ValueError):
    """An admin's request about keys that cannot be done (English: the desk and the CLI
    are in English, so these are not applicant msgids)."""


@dataclass(frozen=True)
class NewKey:
    row: ApiKey
    secret: str  # shown once


def _hash(secret: str) -> str:
    # 256 random bits: a plain SHA-256 is enough (nothing to brute-force), as for status links.
    return hashlib.sha256(secret.encode()).hexdigest()


async def create(name: str, scopes: list[str], allowed: dict[str, str], by: str) -> NewKey:
    """A new key named ``name`` holding ``scopes`` (each one of ``allowed``)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise KeyRefused("Give the key a name of 1 to 64 characters.")
    unknown = sorted(set(scopes) - set(allowed))
    if unknown or not scopes:
        raise KeyRefused(f"Choose scopes among: {', '.join(allowed)}.")
    if await ApiKey.exists(name=name):
        raise KeyRefused(f"A key named {name} exists already.")
    secret = PREFIX + secrets.token_urlsafe(32)
    row = await ApiKey.create(name=name, prefix=secret[:11], key_hash=_hash(secret),
                              scopes=sorted(set(scopes)), created_by=by)
    log.info("API key %s made by %s with %s", name, by, ",".join(row.scopes))
    return NewKey(row, secret)


async def revoke(name: str, by: str) -> ApiKey:
    row = await ApiKey.get_or_none(name=name, revoked_at=None)
    if row is None:
        raise KeyRefused(f"There is no key named {name} in use.")
    row.revoked_at = datetime.now(UTC)
    await row.save(update_fields=["revoked_at"])
    _forget(row.key_hash)
    log.info("API key %s revoked by %s", name, by)
    return row


async def listed() -> list[ApiKey]:
    return await ApiKey.all().order_by("revoked_at", "name")


# A key found is remembered for a few seconds: its look-up was a fifth of a check's cost
# (bench/README.md, B8). Revoking forgets it at once in this process; another process
# (the CLI, another web worker) stops accepting it within REMEMBER seconds.
REMEMBER = 5.0
_found: dict[str, tuple[ApiKey, float]] = {}


def _forget(key_hash: str | None = None) -> None:
    if key_hash is None:
        _found.clear()
    else:
        _found.pop(key_hash, None)


async def find(secret: str) -> ApiKey | None:
    """The key in use whose hash this is; its last use noted (at most once a minute)."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    digest = _hash(secret)
    remembered = _found.get(digest)
    if remembered is not None and remembered[1] > time.monotonic():
        row = remembered[0]
    else:
        found = await ApiKey.get_or_none(key_hash=digest, revoked_at=None)
        if found is None:
            _forget(digest)
            return None
        row = found
        if len(_found) > 1000:  # a handful of services hold keys: never a big table
            _forget()
        _found[digest] = (row, time.monotonic() + REMEMBER)
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        row.last_used_at = now
        await ApiKey.filter(id=row.id).update(last_used_at=now)
    return row
