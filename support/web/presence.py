"""Who else has an application open, refreshed by the page (static/review/presence.js)."""

from __future__ import annotations

from starlette.routing import Route


def routes() -> list[Route]:
    return []
