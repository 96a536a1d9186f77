"""Words for the codes the data holds: states, event types, roles and reason codes as a
reviewer reads them. No page shows an internal code."""

from __future__ import annotations


def state_word(status: str) -> str:
    return status.replace("_", " ").capitalize()
