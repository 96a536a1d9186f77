"""The applicant's contacts as the status page shows them: whether each message reached
them by email and by SMS, and the corrected email they may give once (issue 21)."""

from __future__ import annotations

from typing import Any

from support.data.models import Application


async def deliveries(application: Application) -> list[dict[str, Any]]:
    """One entry per message sent to the applicant, newest first (filled in by issue 21's
    delivery work)."""
    return []
