"""How dates and contacts are shown to people (pages and messages alike)."""

from __future__ import annotations

from datetime import datetime


def format_when(value: datetime | str | None) -> str:
    """Day, month in words, time, and the zone said out loud."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return f"{value.day} {value.strftime('%B %Y, %H:%M')} UTC"


def mask_phone(phone: str) -> str:
    """Enough to recognise one's own number on a shared screen, not enough to harvest it."""
    return phone[:3] + "•" * max(len(phone) - 5, 0) + phone[-2:] if len(phone) > 5 else "•••"


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def format_age(start: datetime | None, end: datetime) -> str:
    """A short duration for busy eyes: '12 min', '5 h', '3 d'."""
    if start is None:
        return ""
    seconds = max(0, int((end - start).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 3 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
