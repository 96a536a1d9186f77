"""Events for the maker's endpoints (issue 22; being built): ``emit`` is called inside the
transaction of the change it announces."""

from __future__ import annotations

from typing import Any


async def emit(event: str, data: dict[str, Any]) -> None:
    """Queue ``event`` (``application.decided``, ``permission.granted``,
    ``permission.redeemed``, ``permission.revoked``) with ``data`` for every endpoint that
    subscribed to it."""
    return None
