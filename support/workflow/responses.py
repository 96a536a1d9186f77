"""The canned responses a desk keeps: seeded from ``rules.responses`` the first time anyone
asks (so a new desk is usable at once), and saved by admins."""

from __future__ import annotations

from typing import Any

from support.data.models import CannedResponse
from support.rules.responses import DEFAULTS


async def ensure_defaults() -> None:
    if not await CannedResponse.exists():
        await CannedResponse.bulk_create([CannedResponse(**row) for row in DEFAULTS])


async def for_kind(kind: str) -> list[CannedResponse]:
    """The active responses a reviewer may start a decision on this kind from."""
    await ensure_defaults()
    return await CannedResponse.filter(kind=kind, active=True).order_by("action", "title")


async def every_response() -> list[CannedResponse]:
    await ensure_defaults()
    return await CannedResponse.all().order_by("kind", "action", "title")


async def save(values: dict[str, Any], response_id: int | None = None) -> bool:
    """A new response, or the changed one; False if ``response_id`` names none."""
    if response_id is None:
        await CannedResponse.create(**values)
        return True
    return bool(await CannedResponse.filter(id=response_id).update(**values))
