"""Other applications of the same account, phone, IMEI or receipt, for the panel beside an
application's facts."""

from __future__ import annotations

from dataclasses import dataclass

from support.data.models import Application


@dataclass(frozen=True)
class Related:
    reference: str
    kind: str
    status: str
    shares: tuple[str, ...]  # "account", "phone", "IMEI", "receipt"


async def related_to(application: Application, limit: int = 20) -> list[Related]:
    """To be written (issue 20)."""
    return []
