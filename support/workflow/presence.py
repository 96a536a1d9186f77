"""Who has an application open: each page and its refreshes say "still here", and the page
names the other reviewers seen in the last seconds."""

from __future__ import annotations

from support.data.models import Application, Reviewer


async def seen(application: Application, reviewer: Reviewer) -> None:
    """To be written (issue 20)."""


async def others(application: Application, reviewer: Reviewer) -> list[str]:
    """The names of the other reviewers with this application open. To be written."""
    return []
