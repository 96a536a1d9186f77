"""Words for the codes the data holds: states, event types, roles and reason codes as a
reviewer reads them. No page shows an internal code. Registered as template filters
(``web/templating.py``): ``state_word``, ``event_words``, ``role_word``, ``reason_word``."""

from __future__ import annotations

from typing import Any

from support.rules.kinds import REJECTION_REASONS


def state_word(status: Any) -> str:
    """"needs_info" -> "Needs information" (to be completed, issue 20)."""
    return str(getattr(status, "value", status)).replace("_", " ").capitalize()


def event_words(event: Any) -> str:
    """What an event says happened, in words (to be completed, issue 20)."""
    return str(event.type).replace("_", " ").capitalize()


def role_word(role: str) -> str:
    return role.capitalize()


def reason_word(code: str | None) -> str:
    return REJECTION_REASONS.get(code or "", code or "")
